"""Staff sessions: an idle timeout, and the password again before a destructive action.

* `IdleTimeoutMiddleware` ends a session nobody has used for HOSTPANEL_SESSION_IDLE_MINUTES. The pages'
  background refreshes (`X-Requested-With: fetch`: the dashboard grid, deployment progress) are checked
  but are not use, so a dashboard left open still times out.
* The time of the last password check is kept in the session: at login (any login: panel or admin) and at
  every re-authentication. A destructive action (delete, rollback, import apply) asks for the password
  again when that is older than HOSTPANEL_REAUTH_MINUTES (`ask_password` on the form, `password_confirmed`
  after `is_valid()`). The check goes through `authenticate()`, so a wrong password counts towards the
  login lockout (django-axes), and a lockout also ends the session.

API tokens have no session: neither applies to them.
"""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.http import HttpRequest

SEEN_AT = "hostpanel_seen_at"  # last use (epoch seconds), refreshed at most once a minute
AUTH_AT = "hostpanel_auth_at"  # last password check (epoch seconds)
REAUTH_FIELD = "reauth_password"
SEEN_GRANULARITY = 60  # seconds: a session is written at most once a minute for its idle clock


def _background(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


class IdleTimeoutMiddleware:
    """After AuthenticationMiddleware: log out a session idle for longer than the setting."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            seen = request.session.get(SEEN_AT)
            if isinstance(seen, (int, float)) and now - seen > settings.HOSTPANEL_SESSION_IDLE_MINUTES * 60:
                logout(request)  # the view then answers as to anyone logged out (login page, 401/403)
                if not _background(request):
                    messages.info(request, "Your session ended after a time without use: please log in again.")
            elif seen is None or (not _background(request) and now - seen >= SEEN_GRANULARITY):
                request.session[SEEN_AT] = now
        return self.get_response(request)


def stamp_authentication(request: HttpRequest) -> None:
    now = time.time()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now


def on_login(sender, request=None, user=None, **kwargs) -> None:
    """user_logged_in (connected in HostPanelConfig.ready): every login is a password check."""
    if request is not None and hasattr(request, "session"):
        stamp_authentication(request)


def recently_authenticated(request: HttpRequest) -> bool:
    at = request.session.get(AUTH_AT)
    return isinstance(at, (int, float)) and 0 <= time.time() - at <= settings.HOSTPANEL_REAUTH_MINUTES * 60


def ask_password(request: HttpRequest, form: forms.Form) -> forms.Form:
    """Add the 'your password' field to a destructive action's form unless the user gave it recently."""
    if not recently_authenticated(request):
        form.fields[REAUTH_FIELD] = forms.CharField(
            label="Your password",
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
            help_text="This cannot be undone by one click: enter your password again to confirm it is you.",
        )
    return form


def password_confirmed(request: HttpRequest, form: forms.Form) -> bool:
    """After form.is_valid(): True when no password was asked or the right one was given (then it counts as
    a fresh authentication); else an error on the field. The password never stays in cleaned_data."""
    if REAUTH_FIELD not in form.fields:
        return True
    password = form.cleaned_data.pop(REAUTH_FIELD, "")
    user = authenticate(request, username=request.user.get_username(), password=password)
    if user is not None and user.pk == request.user.pk:
        stamp_authentication(request)
        return True
    if getattr(request, "axes_locked_out", False):
        logout(request)  # too many wrong passwords: AxesMiddleware answers with the lockout page
    form.add_error(REAUTH_FIELD, "That is not your password.")
    return False
