"""The saturation alert: a front-end whose busy workers stay at or above HOSTPANEL_SATURATION_PERCENT of
MaxRequestWorkers for HOSTPANEL_SATURATION_MINUTES fires one alert with the consequence and the sizing
advice; a shorter burst does not; the first sample below resolves it."""

from __future__ import annotations

import datetime

import pytest

from alerts.choices import AlertEvent, AlertState, NotificationKind
from alerts.conditions import saturation_conditions
from alerts.models import Alert, Notification
from alerts.services import alert_channel_create, alerts_evaluate
from balancers.models import FrontEnd, WorkerSample
from tests.factories import ACTOR, add_manager_frontend

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
FACTS = {"checked_at": "2026-12-07T17:00:00+00:00", "mpm": "event", "modules": ["status"],
         "limits": {"MaxRequestWorkers": 32, "ServerLimit": 2, "ThreadsPerChild": 16}}  # fmt: skip


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def fe1(db, settings, actor) -> FrontEnd:
    settings.HOSTPANEL_SATURATION_PERCENT = 90
    settings.HOSTPANEL_SATURATION_MINUTES = 2
    settings.HOSTPANEL_STATUS_POLL_SECONDS = 30
    alert_channel_create(actor=ACTOR, name="oncall", kind="email", target="oncall@example.net", events=["saturation"])
    frontend = add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=FACTS)
    return frontend


def sample(
    frontend: FrontEnd, seconds: float, busy: int, *, max_workers: int = 32, keepalive: int = 0
) -> datetime.datetime:
    WorkerSample.objects.create(
        frontend=frontend, taken_at=at(seconds), busy=busy, idle=32 - busy, slots=32, max_workers=max_workers,
        keepalive=keepalive,
    )  # fmt: skip
    return at(seconds)


def poll_round(frontend: FrontEnd, seconds: float, busy: int, **kw) -> list[Alert]:
    """One poll: its sample stored, then the alerts evaluated (what status.poller + alerts.receivers do)."""
    return alerts_evaluate(hosts=[], now=sample(frontend, seconds, busy, **kw))


def saturation() -> Alert | None:
    return Alert.objects.filter(event=AlertEvent.SATURATION).first()


def test_busy_workers_above_the_threshold_for_two_minutes_fire_one_alert_with_the_consequence(fe1, mailoutbox):
    for t in range(0, 120, 30):
        poll_round(fe1, t, busy=31)
        assert saturation() is None, t  # not yet two minutes
    changed = poll_round(fe1, 120, busy=32, keepalive=20)
    alert = saturation()
    assert changed == [alert] and alert.state == AlertState.OPEN and alert.subject == "fe1"
    assert "32 of 32 Apache workers busy" in alert.summary
    assert "keep-alive connections are being closed: visitors can see failed requests" in alert.detail
    assert "MaxRequestWorkers 32 with ThreadsPerChild 16 is too small" in alert.detail and "mpm_worker" in alert.detail
    assert "MaxRequestWorkers 160" in alert.detail  # 52 clients seen: 2 processes of 80 threads
    assert Notification.objects.filter(kind=NotificationKind.FIRE).count() == 1
    poll_round(fe1, 150, busy=30)
    assert Alert.objects.filter(event=AlertEvent.SATURATION).count() == 1  # held: the same alert


def test_a_burst_shorter_than_the_window_or_one_dip_below_the_threshold_does_not_fire(fe1):
    for t, busy in ((0, 32), (30, 32), (60, 20), (90, 32), (120, 32), (150, 32)):
        poll_round(fe1, t, busy=busy)
    assert saturation() is None  # saturated since t=90 only: 60 s
    poll_round(fe1, 180, busy=28)  # 87.5 %: under 90
    poll_round(fe1, 210, busy=29)
    assert saturation() is None


def test_it_resolves_at_the_first_sample_below_the_threshold(fe1):
    for t in range(0, 150, 30):
        poll_round(fe1, t, busy=32)
    assert saturation().state == AlertState.OPEN
    changed = poll_round(fe1, 150, busy=10)
    assert changed and saturation().state == AlertState.RESOLVED
    assert Notification.objects.filter(kind=NotificationKind.RECOVERY).count() == 1


def test_without_max_request_workers_the_scoreboard_slots_are_the_limit(fe1):
    FrontEnd.objects.filter(pk=fe1.pk).update(apache_facts={})
    for t in range(0, 150, 30):
        sample(fe1, t, busy=30, max_workers=0)
    (condition,) = saturation_conditions(at(120))
    assert "30 of 32" in condition.summary and "scoreboard slots" in condition.detail
    assert "connection test" in condition.detail


def test_a_poller_that_stopped_proves_nothing(fe1):
    for t in range(0, 150, 30):
        sample(fe1, t, busy=32)
    assert saturation_conditions(at(120))
    assert saturation_conditions(at(120 + 30 * 4)) == []  # the latest sample is 4 poll intervals old


def test_the_threshold_and_the_window_are_settings(fe1, settings):
    settings.HOSTPANEL_SATURATION_PERCENT = 50
    settings.HOSTPANEL_SATURATION_MINUTES = 0.5
    sample(fe1, 0, busy=16)
    assert saturation_conditions(at(29)) == []
    sample(fe1, 30, busy=17)
    assert [c.subject for c in saturation_conditions(at(30))] == ["fe1"]


def test_evaluating_saturation_makes_the_same_number_of_queries_for_any_number_of_front_ends(
    fe1, actor, django_assert_max_num_queries
):
    for t in range(0, 150, 30):
        sample(fe1, t, busy=32)
    with django_assert_max_num_queries(4) as one:
        assert len(saturation_conditions(at(120))) == 1
    for i in range(5):
        other = add_manager_frontend(actor, f"fe-{i}", f"http://127.0.0.1:{i + 2}/balancer-manager")
        for t in range(0, 150, 30):
            sample(other, t, busy=32)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(saturation_conditions(at(120))) == 6
