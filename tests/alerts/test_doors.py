"""Alerts from every door: the API (channels for operators, alerts to read), the pages, manage.py."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from alerts.models import Alert, AlertChannel
from alerts.services import alert_channel_create
from api.services import api_token_create
from certificates.crypto import decrypt_secret
from hostpanel.models import AuditEntry
from tests.factories import ACTOR

# "!" and "#" are not in the url-safe base64 alphabet of a Fernet token: the secret cannot appear in it by chance
SECRET = "hook!secret#k1"


def client(scope: str) -> APIClient:
    _token, key = api_token_create(actor=ACTOR, name=f"{scope}-{uuid.uuid4().hex[:8]}", scope=scope)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_an_operator_creates_lists_changes_and_deletes_a_channel_and_the_secret_never_comes_back(db, webhook_receiver):
    api = client("operator")
    body = {
        "name": "pager",
        "kind": "webhook",
        "target": webhook_receiver.url,
        "events": ["member_down"],
        "secret": SECRET,
    }
    created = api.post("/api/v1/alert-channels/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert "secret" not in data and data["has_secret"] is True and data["events"] == ["member_down"]
    channel = AlertChannel.objects.get(name="pager")
    assert decrypt_secret(channel.secret_encrypted) == SECRET.encode() and SECRET not in channel.secret_encrypted
    assert [c["name"] for c in api.get("/api/v1/alert-channels/").json()["results"]] == ["pager"]
    changed = api.patch(f"/api/v1/alert-channels/{channel.pk}/", {"events": ["drift", "member_down"]}, format="json")
    assert changed.json()["events"] == ["member_down", "drift"] and changed.json()["has_secret"]
    test = api.post(f"/api/v1/alert-channels/{channel.pk}/test/")
    assert test.status_code == 200 and test.json()["status"] == "sent" and len(webhook_receiver.seen) == 1
    assert api.delete(f"/api/v1/alert-channels/{channel.pk}/").json()["deleted"] == "pager"
    audit = " ".join(str(e.after) + str(e.before) for e in AuditEntry.objects.filter(object_type="alertchannel"))
    assert SECRET not in audit and "********" in audit


def test_bad_channels_are_refused_with_field_messages(db):
    api = client("operator")
    no_secret = api.post(
        "/api/v1/alert-channels/",
        {"name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/x", "events": ["member_down"]},
        format="json",
    )
    assert no_secret.status_code == 400 and "secret" in no_secret.json()["errors"]
    bad_event = api.post(
        "/api/v1/alert-channels/",
        {"name": "m", "kind": "email", "target": "a@example.net", "events": ["x"]},
        format="json",
    )
    assert bad_event.status_code == 400 and "not a valid choice" in str(bad_event.json()["errors"])
    bad_mail = api.post(
        "/api/v1/alert-channels/", {"name": "m", "kind": "email", "target": "not mail", "events": []}, format="json"
    )
    assert bad_mail.status_code == 400 and {"target", "events"} <= set(bad_mail.json()["errors"])
    alert_channel_create(actor=ACTOR, name="m", kind="email", target="a@example.net", events=["drift"])
    taken = api.post(
        "/api/v1/alert-channels/",
        {"name": "m", "kind": "email", "target": "b@example.net", "events": ["drift"]},
        format="json",
    )
    assert taken.status_code == 409


def test_channels_are_for_operators_but_alerts_may_be_read(db):
    reader = client("read")
    assert reader.get("/api/v1/alert-channels/").status_code == 403
    assert reader.get("/api/v1/alerts/").status_code == 200
    assert client("billing").get("/api/v1/alerts/").status_code == 403


def test_the_alerts_api_lists_open_and_past_alerts_with_their_messages(db):
    alert_channel_create(actor=ACTOR, name="m", kind="email", target="a@example.net", events=["frontend_down"])
    Alert.objects.create(event="frontend_down", subject="fe1", summary="fe1 down", state="open",
                         first_seen_at="2026-12-01T12:00Z", last_seen_at="2026-12-01T12:01Z")  # fmt: skip
    body = client("read").get("/api/v1/alerts/?state=open").json()
    assert [(a["subject"], a["state"]) for a in body["results"]] == [("fe1", "open")]
    assert client("read").get("/api/v1/alerts/?state=resolved").json()["results"] == []


def test_the_pages_list_alerts_and_let_operators_configure_channels(db, operator_client, viewer_client, mailoutbox):
    Alert.objects.create(event="member_down", subject="fe1/bronze/zope2", summary="zope2 down on fe1", state="open",
                         first_seen_at="2026-12-01T12:00Z", last_seen_at="2026-12-01T12:01Z")  # fmt: skip
    page = viewer_client.get("/alerts/").content.decode()
    assert "zope2 down on fe1" in page and 'data-state="open"' in page
    assert viewer_client.post("/alerts/channels/add/", {}).status_code == 403
    response = operator_client.post(
        "/alerts/channels/add/",
        {
            "name": "oncall",
            "kind": "email",
            "target": "oncall@example.net",
            "events": ["member_down", "drift"],
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    channel = AlertChannel.objects.get(name="oncall")
    assert channel.events == ["member_down", "drift"]
    operator_client.post(f"/alerts/channels/{channel.pk}/test/")
    assert mailoutbox and mailoutbox[0].to == ["oncall@example.net"]
    listing = operator_client.get("/alerts/channels/").content.decode()
    assert 'data-channel="oncall"' in listing and "Sent" in listing
    alert = Alert.objects.get()
    assert "Messages and delivery attempts" in operator_client.get(alert.get_absolute_url()).content.decode()


def test_viewers_see_the_channels_but_not_their_webhook_urls_or_addresses(db, operator_client, viewer_client):
    hook = "https://hooks.example.net/services/T000/B000/XXXXsecretpath"
    alert_channel_create(actor=ACTOR, name="pager", kind="webhook", target=hook, events=["member_down"], secret="k")
    alert_channel_create(actor=ACTOR, name="mail", kind="email", target="oncall@example.net", events=["drift"])
    page = viewer_client.get("/alerts/channels/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-channel="pager"' in html and 'data-channel="mail"' in html  # the channels and their events
    assert "hooks.example.net" not in html and "XXXXsecretpath" not in html and "oncall@example.net" not in html
    assert html.count('data-target-hidden="1"') == 2
    operator_html = operator_client.get("/alerts/channels/").content.decode()
    assert hook in operator_html and "oncall@example.net" in operator_html


def test_manage_py_lists_ticks_and_tests(db, mailoutbox):
    alert_channel_create(actor=ACTOR, name="m", kind="email", target="a@example.net", events=["drift"])
    out = io.StringIO()
    call_command("alerts", "test", "m", stdout=out)
    assert "delivered to m" in out.getvalue() and len(mailoutbox) == 1
    call_command("alerts", "tick", stdout=io.StringIO())
    call_command("alerts", "list", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no alert channel"):
        call_command("alerts", "test", "nope", stdout=io.StringIO())
