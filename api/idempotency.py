"""`Idempotency-Key` on POST: a retry with the same key and body gets the remembered response;
the same key with another body is refused (422). Keys are per token and kept for
HOSTPANEL_API_IDEMPOTENCY_HOURS (default 24)."""

from __future__ import annotations

import datetime
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import Conflict, IdempotencyKeyReused, ReplayResponse
from api.models import ApiToken, IdempotencyRecord
from api.services import idempotency_prune

HEADER = "Idempotency-Key"
ABANDONED_AFTER = datetime.timedelta(minutes=5)  # a first request that never finished (process killed)


def _window() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.HOSTPANEL_API_IDEMPOTENCY_HOURS)


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _validate_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        error = exceptions.ValidationError()
        error.field_errors = {HEADER: ["Use 1 to 255 printable ASCII characters (a UUID is a good key)."]}
        raise error
    return key


def begin(request) -> IdempotencyRecord | None:
    """Claim the key for this request, or raise ReplayResponse / 422 / 409 (still running)."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or not isinstance(request.auth, ApiToken):
        return None
    key = _validate_key(key)
    fingerprint = _fingerprint(request)
    idempotency_prune(older_than=_window())
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    token=request.auth,
                    key=key,
                    fingerprint=fingerprint,
                    method=request.method,
                    path=request.path[:500],
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(token=request.auth, key=key).first()
            if existing is None:
                continue  # it finished with an error and was forgotten meanwhile: claim again
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyReused() from None
            if existing.response_status == 0:
                if timezone.now() - existing.created_at > ABANDONED_AFTER:
                    existing.delete()
                    continue
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    code="idempotency_in_progress",
                ) from None
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            raise ReplayResponse(replay) from None
    raise Conflict("This Idempotency-Key is being used concurrently; retry later.", code="idempotency_in_progress")


def finish(record: IdempotencyRecord, response: Response) -> None:
    """Remember a successful response; forget the key after an error so a corrected retry runs."""
    if 200 <= response.status_code < 300:
        data = getattr(response, "data", None)
        record.response_status = response.status_code
        record.response_body = json.loads(JSONRenderer().render(data)) if data is not None else None
        record.save(update_fields=["response_status", "response_body"])
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
