"""Every API error is JSON `{"detail", "code", "errors"?}`: DRF exceptions, the services'
ValidationErrors (400, or 409 for a conflict), unknown URLs (404) and unexpected failures (500)."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("hostpanel.api")

# A service error with only these codes means "this name belongs to something else": 409.
CONFLICT_CODES = frozenset(
    {"unique", "taken", "taken_by_alias", "conflict", "protected", "in_use", "last_usable_member", "gone"}
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with an existing record."
    default_code = "conflict"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request."
    default_code = "idempotency_key_reused"


class ReplayResponse(Exception):  # noqa: N818 - control flow, not an error
    """Raised to answer a retried POST with its remembered response."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _unique_messages(model: type[models.Model] | None) -> set[str]:
    """Messages of the model's unique constraints: Django reports a multi-field one without a code."""
    if model is None:
        return set()
    return {
        str(c.violation_error_message)
        for c in model._meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.violation_error_message
    }


def service_error(exc: DjangoValidationError, *, model: type[models.Model] | None = None) -> exceptions.APIException:
    """Translate a service's ValidationError: field messages kept, 409 when every error is a conflict."""
    conflict_messages = _unique_messages(model)
    fields: dict[str, list[str]] = {}
    conflict = True
    items = exc.error_dict.items() if hasattr(exc, "error_dict") else [("non_field_errors", exc.error_list)]
    for field, errors in items:
        name = "non_field_errors" if field == "__all__" else field
        for error in errors:
            for message in error.messages:
                fields.setdefault(name, []).append(message)
                if error.code not in CONFLICT_CODES and message not in conflict_messages:
                    conflict = False
    if conflict and fields:
        error = Conflict(detail="This conflicts with an existing record.")
    else:
        error = exceptions.ValidationError()
        error.detail = "Invalid input."
    error.field_errors = fields
    return error


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail as {field: [messages]} (nested fields joined with '.')."""
    result: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                if isinstance(sub, dict | list):
                    walk(f"{prefix}.{index}" if prefix else str(index), sub)
                else:
                    result.setdefault(prefix or "non_field_errors", []).append(str(sub))
        else:
            result.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return result


def api_exception_handler(exc, context):
    if isinstance(exc, ReplayResponse):
        return exc.response
    if isinstance(exc, DjangoValidationError):
        view = context.get("view")
        exc = service_error(exc, model=getattr(getattr(view, "queryset", None), "model", None))
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError) and not hasattr(exc, "field_errors"):
        exc.field_errors = _flatten(exc.detail)
        exc.detail = "Invalid input."

    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unexpected error in API view %s", context.get("view"), exc_info=exc)
        return Response(
            {"detail": "Internal server error.", "code": "server_error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )

    response = drf_exception_handler(exc, context)
    if response is None:  # pragma: no cover - every APIException is handled by DRF
        return None
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    body: dict = {"detail": str(detail) if not isinstance(detail, list | dict) else "Invalid input.", "code": code}
    field_errors = getattr(exc, "field_errors", None)
    if field_errors:
        body["errors"] = field_errors
    response.data = body
    return response


def _json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    return _json_error(404, "Not found.", "not_found")


def handler404(request, exception=None):
    """JSON under /api/, the normal page elsewhere."""
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return _json_error(500, "Internal server error.", "server_error")
    return defaults.server_error(request)
