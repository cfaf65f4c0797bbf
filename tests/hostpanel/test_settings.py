from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from devrig.net import tcp_reachable
from hostpanel.env import env_bool, env_int, parse_database_url
from tests.realparts import missing
from tests.samples import ROOT, clean_env


def test_env_bool_refuses_junk(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG", False) is True


def test_env_int_refuses_junk_and_out_of_range(monkeypatch):
    monkeypatch.setenv("X_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("X_N", 1)
    monkeypatch.setenv("X_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_N", 1, minimum=1)


def test_database_url_parses_postgres_and_sqlite(tmp_path):
    pg = parse_database_url("postgres://hp:p%40ss@db.example:5433/hostpanel?sslmode=require", base_dir=tmp_path)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "hostpanel",
        "hp",
        "p@ss",
        "db.example",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert parse_database_url("sqlite:////tmp/x.db", base_dir=tmp_path)["NAME"] == "/tmp/x.db"
    assert parse_database_url("sqlite:///var/x.db", base_dir=tmp_path)["NAME"] == str(tmp_path / "var/x.db")
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        parse_database_url("mysql://x/y", base_dir=tmp_path)


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "hostpanel.settings"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings({"DEBUG": "0", "HOSTPANEL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_development_generates_the_secret_key_once_into_var(tmp_path):
    assert run_settings({"DEBUG": "1", "HOSTPANEL_VAR_DIR": str(tmp_path)}).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert run_settings({"DEBUG": "1", "HOSTPANEL_VAR_DIR": str(tmp_path)}).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_a_junk_debug_value_stops_the_process(tmp_path):
    result = run_settings({"DEBUG": "perhaps", "HOSTPANEL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0 and "DEBUG must be one of" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = clean_env(
        DEBUG="0",
        SECRET_KEY="x" * 20 + "-production-secret-key-for-the-check-only-0123456789",
        ALLOWED_HOSTS="panel.example.com",
        DATABASE_URL=f"sqlite:////{tmp_path}/check.sqlite3",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.real
def test_the_redis_cache_is_shared_through_the_real_redis(tmp_path):
    if not tcp_reachable("127.0.0.1", 6379):
        missing("Redis is not answering on 127.0.0.1:6379")
    key = f"hostpanel-test-{os.getpid()}"
    code = (
        "import django, sys; django.setup(); from django.core.cache import cache; "
        f"cache.set({key!r}, sys.argv[1], 30) if sys.argv[1] != '-' else print(cache.get({key!r}))"
    )
    env = clean_env(DEBUG="1", HOSTPANEL_VAR_DIR=str(tmp_path), HOSTPANEL_CACHE="redis")
    for value in ("shared-value", "-"):
        result = subprocess.run(
            [sys.executable, "-c", code, value], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    # the second process read what the first one wrote: one cache for every worker
    assert result.stdout.strip() == "shared-value"
