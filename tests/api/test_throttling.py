"""Per-token throttling: HOSTPANEL_API_RATE requests per period, then 429 with Retry-After."""

from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured

import hostpanel.settings as hp_settings


def test_a_token_over_its_rate_gets_a_429_with_retry_after(demo, client_for, settings):
    settings.HOSTPANEL_API_RATE = "3/min"
    busy, calm = client_for("read", name="busy"), client_for("read", name="calm")
    assert [busy.get("/api/v1/sites/").status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get("/api/v1/sites/")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert calm.get("/api/v1/sites/").status_code == 200  # per token, not global


def test_the_rate_setting_refuses_junk(monkeypatch):

    monkeypatch.setenv("HOSTPANEL_API_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="HOSTPANEL_API_RATE"):
        importlib.reload(hp_settings)
    monkeypatch.setenv("HOSTPANEL_API_RATE", "600/min")
    importlib.reload(hp_settings)
