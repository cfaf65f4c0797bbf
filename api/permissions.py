"""What a caller may do: token scopes, and staff roles for browser sessions."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from api.models import ApiToken, TokenScope

OPERATORS_GROUP = "operators"  # created by the web UI's data migration; checked by name

# Each API view declares its area; billing tokens reach only the client sites.
AREA_SITES = "sites"
AREA_INFRASTRUCTURE = "infrastructure"
AREA_DOCS = "docs"
AREA_USAGE = "usage"  # traffic usage (GET only): billing, usage, read and operator tokens


def staff_can_change(user) -> bool:
    if user.is_superuser:
        return True
    cached = getattr(user, "_hostpanel_can_change", None)
    if cached is None:
        cached = user.groups.filter(name=OPERATORS_GROUP).exists()
        user._hostpanel_can_change = cached
    return cached


LIVE_STATUS_REFUSED = (
    "status/?live=1 asks every front-end now and stores the answers: operator tokens and operators only. "
    "Without it you read the poller's latest samples."
)


def require_operator(request, message: str) -> None:
    """403 with `message` unless may_operate(request)."""
    if not may_operate(request):
        raise PermissionDenied(message)


def may_operate(request) -> bool:
    """An operator token, or an operator's (or superuser's) session: who may make the panel act."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None:
        return token.scope == TokenScope.OPERATOR
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and staff_can_change(user))


class ScopePermission(BasePermission):
    """billing: sites (every method) and usage (GET); operator: everything; read: GET only; usage: GET of
    the usage area only (a reporting tool that reads traffic and nothing else).
    Staff sessions: every staff user reads; writes need the operators group or superuser."""

    message = "This token's scope does not allow this request."

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        area = getattr(view, "api_area", AREA_INFRASTRUCTURE)
        if token is not None:
            if area == AREA_DOCS:
                return True
            if token.scope == TokenScope.OPERATOR:
                return True
            if token.scope == TokenScope.READ:
                return request.method in SAFE_METHODS
            if area == AREA_USAGE:
                return token.scope in (TokenScope.BILLING, TokenScope.USAGE) and request.method in SAFE_METHODS
            if token.scope == TokenScope.BILLING:
                return area == AREA_SITES
            return False
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = "Your account may read but not change (operators group required)."
        return staff_can_change(user)


def sees_internal_addresses(request) -> bool:
    """Whether the caller may see where names resolve and our front-ends' addresses (the pre-flight check's
    and the CA's words): operator tokens and operator staff sessions; billing and read tokens and read-only
    staff get the same words without the addresses."""
    if request is None:
        return False
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None:
        return token.scope == TokenScope.OPERATOR
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and staff_can_change(user))
