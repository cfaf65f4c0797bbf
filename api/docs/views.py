"""The OpenAPI document and its Swagger UI (served from drf-spectacular-sidecar's local files).
Both are public: the contract is not a secret, and an integrator reads it before having a token."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from api.errors import api_exception_handler
from api.throttling import TokenRateThrottle


class SchemaView(SpectacularAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenRateThrottle]

    def get_exception_handler(self):
        return api_exception_handler


class DocsView(SpectacularSwaggerView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenRateThrottle]

    def get_exception_handler(self):
        return api_exception_handler
