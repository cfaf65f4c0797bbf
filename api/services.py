"""Writes to API tokens: create (returns the key once) and revoke. The management command and the
admin call these."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from api.models import ApiToken, IdempotencyRecord, hash_key
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import save_validated

KEY_PREFIX = "hp_"


def _new_key() -> str:
    # 36 random bytes -> 48 url-safe characters after the "hp_" marker (grep-able in leaked logs).
    return KEY_PREFIX + secrets.token_urlsafe(36)


@transaction.atomic
def api_token_create(
    *,
    actor: Actor,
    name: str,
    scope: str,
    allowed_networks: Iterable[str] | str = (),
    expires_at: datetime.datetime | None = None,
    expires_days: int | None = None,
    description: str = "",
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its key. The key is not stored and cannot be shown again."""
    if expires_days is not None:
        expires_at = timezone.now() + datetime.timedelta(days=expires_days)
    networks = allowed_networks if isinstance(allowed_networks, str) else list(allowed_networks)
    while True:
        key = _new_key()
        prefix = key[: ApiToken.PREFIX_LENGTH]
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    token = ApiToken(
        name=name,
        scope=scope,
        prefix=prefix,
        key_hash=hash_key(key),
        allowed_networks=networks,
        expires_at=expires_at,
        description=description,
    )
    save_validated(token, actor=actor, action="api_token.create", key=name)
    return token, key


@transaction.atomic
def api_token_revoke(token: ApiToken, *, actor: Actor) -> ApiToken:
    """Revoke a token (idempotent). Its remembered idempotent responses go with it."""
    if token.revoked:
        return token
    before = audit.snapshot(token)
    token.revoked = True
    save_validated(token, actor=actor, action="api_token.revoke", key=token.name, before=before)
    IdempotencyRecord.objects.filter(token=token).delete()
    return token


def idempotency_prune(*, older_than: datetime.timedelta) -> int:
    """Forget remembered responses older than the replay window; returns how many were deleted."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
