"""Per-token request rate (HOSTPANEL_API_RATE, e.g. "600/min"); staff sessions per user.

The counters live in Django's default cache: per process with the local-memory cache, shared
between workers when CACHES points at Redis."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiToken
from hostpanel.proxies import client_address


class TokenRateThrottle(SimpleRateThrottle):
    scope = "hostpanel-api"

    def get_rate(self) -> str:
        # read per request (throttles are built per request), so a changed setting applies at once
        return settings.HOSTPANEL_API_RATE

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{client_address(request)}"  # X-Forwarded-For only from a trusted proxy
        return self.cache_format % {"scope": self.scope, "ident": ident}
