"""Who is calling: `Authorization: Token <key>` for machines, a staff session (with CSRF) for people."""

from __future__ import annotations

import datetime

from django.utils import timezone
from rest_framework import authentication, exceptions

from api.models import ApiToken
from hostpanel.proxies import client_address

LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)  # at most one write per token per minute


class TokenUser:
    """The request.user of a token request: not a Django user, never staff."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = token.name

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return f"token:{self.username}"


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Token <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = None
        if len(key) >= 40:
            token = ApiToken.objects.filter(prefix=key[: ApiToken.PREFIX_LENGTH]).first()
        if token is None or not token.matches(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.allows_address(client_address(request)):
            raise exceptions.AuthenticationFailed("This token may not be used from this address.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return TokenUser(token), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The browsable API for logged-in staff; CSRF is enforced by SessionAuthentication."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
