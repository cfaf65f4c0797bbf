"""Private keys are Fernet-encrypted at rest with HOSTPANEL_SECRETS_KEY."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from certificates.crypto import SecretsError, decrypt_secret, encrypt_secret
from tests.samples import ROOT, clean_env

SECRET = b"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"


def test_it_round_trips_a_secret():
    token = encrypt_secret(SECRET)
    assert b"PRIVATE KEY" not in token.encode()  # a space cannot occur in a Fernet token
    assert decrypt_secret(token) == SECRET


def test_a_rotated_key_still_decrypts_old_secrets(settings):
    old = settings.HOSTPANEL_SECRETS_KEY[0]
    token = encrypt_secret(SECRET)
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode(), old]
    assert decrypt_secret(token) == SECRET


def test_a_wrong_key_is_a_clear_error(settings):
    token = encrypt_secret(SECRET)
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(SecretsError, match="cannot be decrypted"):
        decrypt_secret(token)


def test_without_a_key_nothing_is_stored(settings):
    settings.HOSTPANEL_SECRETS_KEY = []
    with pytest.raises(SecretsError, match="HOSTPANEL_SECRETS_KEY is not set"):
        encrypt_secret(SECRET)


def _settings_run(**env: str) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(len(settings.HOSTPANEL_SECRETS_KEY))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=60
    )


def test_production_with_acme_requires_a_secrets_key():
    result = _settings_run(
        DEBUG="0", SECRET_KEY="x" * 60, HOSTPANEL_ACME_DIRECTORY="https://acme.example.net/directory"
    )
    assert result.returncode != 0
    assert "HOSTPANEL_SECRETS_KEY is required" in result.stderr


def test_a_junk_secrets_key_is_refused():
    result = _settings_run(DEBUG="0", SECRET_KEY="x" * 60, HOSTPANEL_SECRETS_KEY="not-a-fernet-key")
    assert result.returncode != 0
    assert "HOSTPANEL_SECRETS_KEY must be" in result.stderr


def test_development_generates_a_key_under_the_var_dir(tmp_path):
    result = _settings_run(DEBUG="1", HOSTPANEL_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secrets_key").stat().st_mode & 0o777 == 0o600
