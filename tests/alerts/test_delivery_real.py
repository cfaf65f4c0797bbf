"""Alerts delivered to real receivers: an SMTP server (aiosmtpd) and a local webhook receiver; and a member
killed behind a real Apache front-end, seen by the real poller."""

from __future__ import annotations

import datetime
import email
import email.policy
import hashlib
import hmac
import json
import time

import pytest

from alerts.choices import AlertState
from alerts.models import Alert, DeliveryAttempt, Notification
from alerts.services import alert_channel_create, alert_channel_test, alerts_tick
from balancers.models import FrontEnd
from devrig.fleet import build_fleet
from devrig.net import http_get
from status.parse import BalancerStatus, FrontEndLive, HostState, MemberFlags, MemberStatus
from status.poller import poll_once
from tests.factories import ACTOR, add_manager_frontend

pytestmark = pytest.mark.real

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def subject_of(text: str) -> str:
    return str(email.message_from_string(text, policy=email.policy.default)["Subject"]).strip()


def erroring(frontend: FrontEnd) -> list[FrontEndLive]:
    status = "Init Err"
    zope2 = MemberStatus("http://127.0.0.1:1", "zope2", 1, 1, status, MemberFlags.parse(status), 0, 0, 0, 0, 0)
    bronze = BalancerStatus("bronze", "BALANCEID", "byrequests", False, 2, 20, "n", (zope2,))
    return [FrontEndLive(frontend.pk, frontend.name, "http://x", HostState.OK, balancers=(bronze,))]


def test_a_test_message_reaches_a_real_smtp_server(db, smtp_sink):
    channel = alert_channel_create(
        actor=ACTOR, name="oncall", kind="email", target="oncall@example.net", events=["member_down"]
    )
    notification = alert_channel_test(channel, actor=ACTOR)
    assert notification.status == "sent" and notification.attempts == 1
    [(mail_from, rcpt, text)] = smtp_sink.messages
    assert (mail_from, rcpt) == ("hostpanel@localhost", ["oncall@example.net"])
    assert subject_of(text).startswith("[HostPanel] TEST: Test message from HostPanel to oncall")


def test_a_webhook_that_fails_twice_gets_the_alert_on_the_third_try_with_a_valid_signature(
    db, settings, actor, webhook_receiver
):
    settings.HOSTPANEL_ALERT_GRACE_SECONDS = 0
    settings.HOSTPANEL_ALERT_RETRY_SECONDS = 30
    webhook_receiver.fail_first = 2
    alert_channel_create(
        actor=ACTOR, name="pager", kind="webhook", target=webhook_receiver.url, events=["member_down"], secret="s3cret"
    )
    fe1 = add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")

    alerts_tick(hosts=erroring(fe1), now=T0)  # fires; first attempt: 500
    alerts_tick(hosts=erroring(fe1), now=T0 + datetime.timedelta(seconds=10))  # not due yet
    assert len(webhook_receiver.seen) == 1
    alerts_tick(hosts=erroring(fe1), now=T0 + datetime.timedelta(seconds=30))  # second attempt: 500
    alerts_tick(hosts=erroring(fe1), now=T0 + datetime.timedelta(seconds=89))  # backoff doubled: not yet
    assert len(webhook_receiver.seen) == 2
    alerts_tick(hosts=erroring(fe1), now=T0 + datetime.timedelta(seconds=90))  # third attempt: 204

    assert [status for _, _, status in webhook_receiver.seen] == [500, 500, 204]
    notification = Notification.objects.get(kind="fire")
    assert (notification.status, notification.attempts) == ("sent", 3)
    attempts = DeliveryAttempt.objects.filter(notification=notification)
    assert [(a.number, a.ok, a.detail) for a in attempts] == [
        (1, False, "HTTP 500"),
        (2, False, "HTTP 500"),
        (3, True, "HTTP 204"),
    ]
    headers, body, _ = webhook_receiver.seen[-1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-HostPanel-Signature"], expected)
    message = json.loads(body)
    assert (message["event"], message["kind"], message["subject"]) == ("member_down", "fire", "fe1/bronze/zope2")
    assert headers["Content-Type"] == "application/json" and headers["X-HostPanel-Event"] == "member_down"
    assert "s3cret" not in json.dumps(list(Notification.objects.values()), default=str)  # never stored in clear


def test_a_member_killed_on_a_real_front_end_gives_exactly_one_alert_and_one_recovery(
    transactional_db, tmp_path, settings, apache_factory, backend_factory, smtp_sink, webhook_receiver
):
    settings.HOSTPANEL_ALERT_GRACE_SECONDS = 1
    fleet = build_fleet(tmp_path, apache_factory, backend_factory, frontends=1, sites=["linux.co.uk"], member_retry=1)
    fleet.deploy()
    alert_channel_create(actor=ACTOR, name="mail", kind="email", target="oncall@example.net", events=["member_down"])
    alert_channel_create(
        actor=ACTOR, name="hook", kind="webhook", target=webhook_receiver.url, events=["member_down"], secret="k"
    )
    port = fleet.host("fe1").http_port

    def sticky_zope2() -> str:
        answer = http_get(port, host="linux.co.uk", cookie="BALANCEID=balancer.zope2")
        assert answer.status == 200  # a dead member's client fails over; nobody sees an error
        return answer.headers["X-Backend"]

    def poll_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            poll_once()
            time.sleep(0.25)

    poll_for(0.5)
    fleet.backends["zope2"].stop()
    assert sticky_zope2() == "zope1"  # Apache puts zope2 in error
    poll_for(1.6)
    alert = Alert.objects.get(event="member_down")
    assert alert.state == AlertState.OPEN and alert.subject == "fe1/bronze/zope2"

    fleet.backends["zope2"].start()
    deadline = time.monotonic() + 10
    while sticky_zope2() != "zope2":  # after retry=1 s Apache tries zope2 again and clears the error
        assert time.monotonic() < deadline
        time.sleep(0.2)
    poll_for(1.6)

    assert Alert.objects.filter(event="member_down").count() == 1
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    subjects = [subject_of(text) for _, _, text in smtp_sink.messages]
    assert [s.split(":")[0] for s in subjects] == ["[HostPanel] ALERT", "[HostPanel] RESOLVED"]
    assert [json.loads(body)["kind"] for _, body, _ in webhook_receiver.seen] == ["fire", "recovery"]
    fleet.stop()
