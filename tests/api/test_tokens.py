"""Tokens: created by the command (key shown once, hash stored), refused when revoked, expired or
used from outside their networks; listed and revoked in the admin without showing the key."""

from __future__ import annotations

import datetime
import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry


def run_command(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def client(key: str, **extra) -> APIClient:
    c = APIClient(**extra)
    c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return c


def test_the_command_prints_the_key_last_and_stores_only_its_hash(db):
    networks = "192.0.2.0/24,2001:db8::/32"
    lines = run_command("whmcs", "--scope", "billing", "--networks", networks, "--expires-days", "30")
    key = lines[-1]
    assert len(key) >= 40
    token = ApiToken.objects.get(name="whmcs")
    assert token.scope == "billing"
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert key.startswith(token.prefix)
    assert token.allowed_networks == ["192.0.2.0/24", "2001:db8::/32"]
    now = timezone.now()
    assert now + datetime.timedelta(days=29) < token.expires_at < now + datetime.timedelta(days=31)
    assert client(key, REMOTE_ADDR="192.0.2.7").get("/api/v1/sites/").status_code == 200


def test_the_command_refuses_a_bad_network_a_bad_scope_and_a_taken_name(db):
    with pytest.raises(CommandError, match="allowed_networks"):
        run_command("ops", "--scope", "operator", "--networks", "10.0.0.1/8")
    with pytest.raises(CommandError, match="allowed_networks"):
        run_command("ops", "--scope", "operator", "--networks", "10.0.0.0/8;x")

    with pytest.raises(ValidationError):
        api_token_create(actor=Actor.command(), name="ops", scope="read", allowed_networks=["10.0.0.0/8\n"])
    with pytest.raises(CommandError):
        run_command("ops", "--scope", "admin")
    run_command("ops", "--scope", "operator")
    with pytest.raises(CommandError, match="already exists"):
        run_command("ops", "--scope", "read")
    with pytest.raises(CommandError, match="name"):
        run_command("Bad Name", "--scope", "read")


def test_a_missing_or_unknown_token_is_a_json_401(db):
    response = APIClient().get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"
    for header in ("Token nope", "Token " + "x" * 60, "Token a b", "Bearer abc"):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=header)
        response = c.get("/api/v1/sites/")
        assert response.status_code == 401, header
        assert "detail" in response.json()


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(db, make_token):
    key = make_token("operator")
    forged = key[: ApiToken.PREFIX_LENGTH] + "A" * (len(key) - ApiToken.PREFIX_LENGTH)
    response = client(forged).get("/api/v1/sites/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_an_expired_token_is_a_401_saying_so(db):
    _token, key = api_token_create(
        actor=Actor.command(), name="old", scope="operator", expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = client(key).get("/api/v1/sites/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This token has expired."


def test_a_revoked_token_is_a_401_saying_so(db):
    token, key = api_token_create(actor=Actor.command(), name="gone", scope="operator")
    assert client(key).get("/api/v1/sites/").status_code == 200
    api_token_revoke(token, actor=Actor.command())
    response = client(key).get("/api/v1/sites/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This token has been revoked."


@pytest.mark.parametrize(
    ("networks", "address", "allowed"),
    [
        (["10.0.0.0/8"], "10.20.30.40", True),
        (["10.0.0.0/8"], "127.0.0.1", False),
        (["10.0.0.0/8", "192.0.2.5/32"], "192.0.2.5", True),
        (["192.0.2.5/32"], "192.0.2.6", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["10.0.0.0/8"], "::ffff:10.1.1.1", True),
        ([], "203.0.113.9", True),
    ],
)
def test_a_token_restricted_to_networks_is_refused_elsewhere(db, networks, address, allowed):
    _token, key = api_token_create(actor=Actor.command(), name="net", scope="read", allowed_networks=networks)
    response = client(key, REMOTE_ADDR=address).get("/api/v1/sites/")
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.json()["detail"] == "This token may not be used from this address."


def test_x_forwarded_for_does_not_bypass_the_network_restriction(db):
    _token, key = api_token_create(actor=Actor.command(), name="net", scope="read", allowed_networks=["10.0.0.0/8"])
    response = client(key, REMOTE_ADDR="198.51.100.1").get("/api/v1/sites/", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert response.status_code == 401


def test_the_token_records_when_it_was_last_used(db):
    token, key = api_token_create(actor=Actor.command(), name="used", scope="read")
    assert token.last_used_at is None
    client(key).get("/api/v1/sites/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_admin_lists_tokens_by_prefix_never_the_key_and_revokes_them(db, client):
    token, key = api_token_create(actor=Actor.command(), name="whmcs", scope="billing")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-Long-enough-1")
    client.force_login(admin)
    page = client.get("/admin/api/apitoken/")
    assert page.status_code == 200
    html = page.content.decode()
    assert token.prefix in html
    assert key not in html
    assert token.key_hash not in html
    detail = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert key not in detail and token.key_hash not in detail
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    response = client.post(
        "/admin/api/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/sites/").status_code == 401


def test_token_creation_and_revocation_are_audited_without_the_key(db):
    token, key = api_token_create(actor=Actor.command("create_api_token"), name="audited", scope="read")
    api_token_revoke(token, actor=Actor.command("ops"))
    entries = AuditEntry.objects.filter(object_type="apitoken").order_by("id")
    assert [e.action for e in entries] == ["api_token.create", "api_token.revoke"]
    assert key not in str([e.after for e in entries])
    assert token.key_hash not in str([e.after for e in entries])
