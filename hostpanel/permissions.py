"""Who may see and who may change things in the staff web panel.

Every page needs a logged-in *staff* user. Two roles, as Django groups (created after every
migrate by hostpanel.apps.ensure_role_groups): ``operators`` may change things, ``viewers`` only
look. Superusers count as operators; a staff user in neither group is read-only. A read-only
user never sees a change button and every POST they send is refused with 403, whatever the page.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from hostpanel.roles import OPERATORS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_panel_user(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def can_change(user: Any) -> bool:
    """Operators (and superusers) may change; viewers and other staff only read."""
    if not is_panel_user(user):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_hostpanel_can_change", None)
    if cached is None:
        cached = user.groups.filter(name=OPERATORS).exists()
        user._hostpanel_can_change = cached
    return cached


def check_panel_access(request: HttpRequest):
    """None when the request may proceed; else the redirect to the login page. Raises 403 for a
    logged-in non-staff user, and for a write (any non-safe method) by a read-only user."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_panel_user(user):
        raise PermissionDenied("The staff panel needs a staff account.")
    if request.method not in SAFE_METHODS and not can_change(user):
        raise PermissionDenied("Your account may look but not change (viewers group).")
    return None


class PanelAccessMixin:
    """For class-based views: staff login required; writes only for operators."""

    def dispatch(self, request, *args, **kwargs):
        refused = check_panel_access(request)
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)


class OperatorRequiredMixin(PanelAccessMixin):
    """Even GET needs an operator (pages that exist only to change something, e.g. a form)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and is_panel_user(request.user) and not can_change(request.user):
            raise PermissionDenied("Your account may look but not change (viewers group).")
        return super().dispatch(request, *args, **kwargs)


def panel_view(view):
    """Decorator form of PanelAccessMixin for function views."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        refused = check_panel_access(request)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    return wrapper


def panel_context(request: HttpRequest) -> dict[str, Any]:
    """Context processor: `can_change` for every template (change buttons show only when true)."""
    user = getattr(request, "user", None)
    return {"can_change": can_change(user) if user is not None else False}
