"""A receiver that drips its answer a byte every 0.5 s (a webhook on 127.0.0.1, an SMTP server whose greeting
never ends) costs one deadline and one failed attempt: it delays neither the other messages nor the status
poller's rounds, whose messages are sent by a task of their own."""

from __future__ import annotations

import datetime
import time

import pytest

from alerts.models import DeliveryAttempt, Notification
from alerts.services import alert_channel_create, alert_channel_test, alerts_tick
from alerts.tasks import deliver_notifications
from balancers.models import StatusSample
from devrig.slow_http import within
from hostpanel import settings as configured
from status.parse import BalancerStatus, FrontEndLive, HostState, MemberFlags, MemberStatus
from status.poller import poll_once
from tests.factories import ACTOR, add_manager_frontend
from tests.samples import MANAGER_XML as XML

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # enqueued, never run


def erroring(frontend) -> list[FrontEndLive]:
    status = "Init Err"
    zope2 = MemberStatus("http://127.0.0.1:1", "zope2", 1, 1, status, MemberFlags.parse(status), 0, 0, 0, 0, 0)
    bronze = BalancerStatus("bronze", "BALANCEID", "byrequests", False, 2, 20, "n", (zope2,))
    return [FrontEndLive(frontend.pk, frontend.name, "http://x", HostState.OK, balancers=(bronze,))]


def attempts() -> dict[str, tuple[bool, str, float]]:
    return {a.notification.channel_name: (a.ok, a.detail, a.seconds) for a in DeliveryAttempt.objects.all()}


@pytest.fixture
def channels(settings, smtp_sink, dripping_server):
    """A webhook that drips (its name sorts first: the old loop sent to it first) and an e-mail channel."""
    settings.HOSTPANEL_ALERT_GRACE_SECONDS = 0
    settings.HOSTPANEL_ALERT_TIMEOUT = 1.0
    events = ["member_down", "frontend_down"]
    slow = dripping_server(interval=0.5)
    alert_channel_create(actor=ACTOR, name="a-slow-hook", kind="webhook", target=slow.url, events=events, secret="k")
    alert_channel_create(actor=ACTOR, name="b-mail", kind="email", target="oncall@example.net", events=events)
    return smtp_sink


def test_a_slow_webhook_does_not_delay_the_e_mail_of_the_same_alert(db, actor, channels):
    fe1 = add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")
    started = time.monotonic()
    _changed, elapsed = within(6, lambda: alerts_tick(hosts=erroring(fe1), now=T0))
    assert channels.arrived and channels.arrived[0] - started < 0.8, "the e-mail waited for the webhook"
    assert elapsed < 1.8, elapsed  # the webhook's deadline, not the sum of both
    seen = attempts()
    assert seen["b-mail"][:2] == (True, "accepted by the mail server")
    assert seen["a-slow-hook"][:2] == (False, "no answer within 1 s") and seen["a-slow-hook"][2] < 1.5
    hook = Notification.objects.get(channel_name="a-slow-hook")
    assert (hook.status, hook.attempts) == ("pending", 1) and hook.next_attempt_at > T0  # retried with backoff


def test_a_poll_round_never_waits_for_a_webhook_and_its_messages_are_a_task(
    db, actor, settings, channels, canned_server, closed_port
):
    settings.TASKS = DUMMY_TASKS
    settings.HOSTPANEL_STATUS_TIMEOUT = 1.0
    ok_url, _ = canned_server(body=XML)
    add_manager_frontend(actor, "fe-ok", ok_url)
    add_manager_frontend(actor, "fe-gone", f"http://127.0.0.1:{closed_port}/balancer-manager")
    for _round in range(2):
        result, elapsed = within(6, poll_once)
        assert elapsed < 1.0, elapsed
        assert (result.hosts, result.hosts_ok) == (2, 1)
    assert StatusSample.objects.filter(frontend__name="fe-ok").values("taken_at").distinct().count() == 2
    queued = [r for r in deliver_notifications.get_backend().results if r.task.name == deliver_notifications.name]
    assert queued, "the messages were not handed to the delivery task"
    assert not DeliveryAttempt.objects.exists() and not channels.messages  # nothing sent inside the rounds

    started = time.monotonic()
    sent, elapsed = within(6, deliver_notifications.call)
    assert sent >= 2 and elapsed < 1.8, elapsed  # every message at once: one deadline, not one per message
    assert channels.arrived[0] - started < 0.8
    assert {name: ok for name, (ok, _, _) in attempts().items()} == {"b-mail": True, "a-slow-hook": False}


def test_an_smtp_server_that_drips_its_greeting_is_given_up_after_the_smtp_timeout(db, settings, dripping_server):
    slow = dripping_server(interval=0.5)
    backend = configured.MAILERS["default"]["BACKEND"]  # the mailer hostpanel/settings.py configures
    options = {"host": "127.0.0.1", "port": slow.port, "timeout": 1}
    settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}
    channel = alert_channel_create(
        actor=ACTOR, name="mail", kind="email", target="oncall@example.net", events=["member_down"]
    )
    notification, elapsed = within(6, lambda: alert_channel_test(channel, actor=ACTOR))
    assert elapsed < 1.6, elapsed
    attempt = notification.delivery_attempts.get()
    assert not attempt.ok and "no answer within 1 s" in attempt.detail, attempt.detail
    assert backend == "hostpanel.mail.DeadlineEmailBackend"
