"""What every API door shares: authentication, scopes, throttling, JSON errors, pagination and the
Idempotency-Key (ApiMixin), and the answer of a delete. Writes run as Actor(name=<token name>, source="api")."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from api import idempotency, permissions
from api.auth import StaffSessionAuthentication, TokenAuthentication
from api.base.serializers import DeletedSerializer
from api.errors import api_exception_handler
from api.models import ApiToken
from api.schema import HostPanelAutoSchema
from api.throttling import TokenRateThrottle
from hostpanel.audit import Actor


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiMixin:
    """Authentication, scopes, throttling, JSON errors and Idempotency-Key for every API view."""

    authentication_classes = [TokenAuthentication, StaffSessionAuthentication]
    permission_classes = [permissions.ScopePermission]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    parser_classes = [JSONParser]  # JSON only: a form or multipart body is a 415 (and the schema says JSON)
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    schema = HostPanelAutoSchema()
    api_area = permissions.AREA_INFRASTRUCTURE

    def get_exception_handler(self):
        return api_exception_handler

    @property
    def actor(self) -> Actor:
        token = self.request.auth if isinstance(self.request.auth, ApiToken) else None
        if token is not None:
            return Actor(name=token.name, source="api")
        return Actor.from_user(self.request.user, source="api")

    def initial(self, request, *args, **kwargs):
        self._idempotency = None
        super().initial(request, *args, **kwargs)
        self._idempotency = idempotency.begin(request)

    def finalize_response(self, request, response, *args, **kwargs):
        record = getattr(self, "_idempotency", None)
        if record is not None:
            self._idempotency = None
            idempotency.finish(record, response)
        return super().finalize_response(request, response, *args, **kwargs)

    def deleted(self, key: str, deployment: Any) -> Response:
        return Response({"deleted": key, "deployment": getattr(deployment, "pk", None)}, status=status.HTTP_200_OK)


DELETE_SCHEMA = extend_schema(responses={200: DeletedSerializer})
