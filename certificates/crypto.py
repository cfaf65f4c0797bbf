"""Secrets at rest: private keys are Fernet-encrypted with HOSTPANEL_SECRETS_KEY before they reach the database.

API::

    token = encrypt_secret(pem_bytes)      # str, stored in *_encrypted fields
    pem_bytes = decrypt_secret(token)      # raises SecretsError on a wrong key or a damaged token

HOSTPANEL_SECRETS_KEY is a comma-separated list: the first key encrypts, every key decrypts, so a key
is rotated by putting the new one first and re-saving. Without a key nothing is encrypted (and so
nothing stored): SecretsError says how to set one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretsError(RuntimeError):
    """No key configured, or a stored secret cannot be decrypted with the configured keys."""


def _fernet() -> MultiFernet:
    keys = settings.HOSTPANEL_SECRETS_KEY or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        raise SecretsError(
            "HOSTPANEL_SECRETS_KEY is not set: private keys cannot be stored. Generate one with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_secret(plaintext: bytes) -> str:
    return _fernet().encrypt(plaintext).decode("ascii")


def decrypt_secret(token: str) -> bytes:
    try:
        return _fernet().decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError):
        raise SecretsError(
            "a stored secret cannot be decrypted with HOSTPANEL_SECRETS_KEY (wrong or rotated key?)"
        ) from None
