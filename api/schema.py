"""OpenAPI: operation ids named for what they do, every operation's error responses, the Idempotency-Key
header. Request bodies are JSON only: the views' one parser (api.base.views.ApiMixin) is what the schema lists."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in words.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. invalid, not_found, conflict.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field-level messages: {field: [message, ...]} (400 and 409 only).",
    )

    class Meta:
        ref_name = "Error"


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


ERRORS = {
    "400": "Invalid input; `errors` names each field.",
    "401": "No valid token (missing, unknown, revoked, expired or not allowed from this address).",
    "403": "The token's scope (or the staff user's role) does not allow this request.",
    "404": "No such object (sites are looked up by domain).",
    "405": "Method not allowed.",
    "406": "The requested response format is not available.",
    "409": "A domain, alias or name already belongs to another object, or the object is still in use.",
    "415": "Unsupported request body media type (send application/json).",
    "422": "This Idempotency-Key was already used with a different request.",
    "429": "Too many requests for this token; see the Retry-After header.",
    "500": "Unexpected server error (reported, never HTML).",
}


# viewset action -> the verb of its operation id (a custom @action keeps its own name: site_suspend)
VERBS = {
    "list": "list",
    "create": "create",
    "retrieve": "retrieve",
    "partial_update": "update",
    "update": "replace",
    "destroy": "delete",
}
# plain API views: HTTP method -> verb
METHOD_VERBS = {"GET": "retrieve", "POST": "create", "PATCH": "update", "PUT": "replace", "DELETE": "delete"}


class HostPanelAutoSchema(AutoSchema):
    """Operation ids `<noun>_<verb>` (site_create, site_suspend, member_update, status_retrieve): a view
    names its noun with `operation_noun`. Adds the JSON error responses every operation can give."""

    def get_operation_id(self) -> str:
        noun = getattr(self.view, "operation_noun", None)
        if noun is None:  # a view without a noun keeps drf-spectacular's generated id
            return super().get_operation_id()
        action = getattr(self.view, "action", None)
        verb = METHOD_VERBS[self.method] if action is None else VERBS.get(action, action)
        return f"{noun}_{verb}"

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and getattr(serializer, "answers_every_field", False):
            # every answer carries every readable field (an optional input is still in the output): say so,
            # or a generated model makes each of them optional (`aliases: list[str] | Unset`)
            schema["required"] = sorted({*schema.get("required", []), *schema.get("properties", {})})
        return schema

    def _error_codes(self) -> list[str]:
        codes = ["401", "403", "405", "406", "429"]
        is_detail = "{" in self.path
        is_list = self.method == "GET" and not is_detail
        if is_detail or is_list:
            codes.append("404")  # unknown object; or a page past the end
        if self.method in {"POST", "PUT", "PATCH", "DELETE"} or is_list:
            codes.append("400")
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            codes.append("409")
        if self.method in {"POST", "PUT", "PATCH"}:
            codes.append("415")
        if self.method == "POST":
            codes.append("422")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(_error(ERRORS[code]), code, direction=direction)
        return responses

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        for name, example in getattr(self.view, "path_examples", {}).items():
            if "{" + name + "}" in self.path:
                params.append(
                    OpenApiParameter(
                        name=name,
                        type=OpenApiTypes.STR,
                        location=OpenApiParameter.PATH,
                        required=True,
                        examples=[OpenApiExample(name, value=example)],
                    )
                )
        if self.method == "POST":
            params.append(
                OpenApiParameter(
                    name="Idempotency-Key",
                    type=OpenApiTypes.STR,
                    location=OpenApiParameter.HEADER,
                    required=False,
                    description="A retry with the same key and body returns the first response without "
                    "repeating the work; the same key with another body is refused with 422.",
                )
            )
        return params


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; create keys with `manage.py create_api_token NAME --scope SCOPE`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Staff login (with CSRF)."}
