"""The debounce engine: grace periods, one alert and one recovery per problem, reminders, and the events
that come from the database (deployments, certificates)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.choices import AlertState, NotificationKind
from alerts.models import Alert, Notification
from alerts.services import alert_channel_create, alerts_tick
from balancers.choices import DeploymentStatus, HostStatus
from balancers.models import Deployment, DeploymentHost, FrontEnd
from certificates.models import Certificate
from sites.models import Site
from status.parse import BalancerStatus, FrontEndLive, HostState, MemberFlags, MemberStatus
from tests.factories import ACTOR, add_manager_frontend

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def worker(route: str, status: str) -> MemberStatus:
    return MemberStatus(
        url=f"http://127.0.0.1:1/{route}", route=route, lbset=1, loadfactor=1, status=status,
        flags=MemberFlags.parse(status), elected=0, busy=0, load=0, transferred=0, read=0,
    )  # fmt: skip


def poll(frontend: FrontEnd, zope2: str = "Init Ok") -> list[FrontEndLive]:
    bronze = BalancerStatus(
        "bronze", "BALANCEID", "byrequests", False, 2, 20, "n", (worker("zope1", "Init Ok"), worker("zope2", zope2))
    )
    return [FrontEndLive(frontend.pk, frontend.name, frontend.balancer_manager_url, HostState.OK, balancers=(bronze,))]


@pytest.fixture
def fe1(db, settings, actor) -> FrontEnd:
    settings.HOSTPANEL_ALERT_GRACE_SECONDS = 60
    settings.HOSTPANEL_ALERT_REPEAT_MINUTES = 60
    settings.HOSTPANEL_ALERT_RETRY_SECONDS = 0
    alert_channel_create(actor=ACTOR, name="oncall", kind="email", target="oncall@example.net", events=["member_down"])
    return add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")


def member_alerts() -> list[Alert]:
    return list(Alert.objects.filter(event="member_down"))


def messages(kind: str) -> int:
    return Notification.objects.filter(kind=kind).count()


def test_a_problem_shorter_than_the_grace_period_is_never_reported(fe1, mailoutbox):
    alerts_tick(hosts=poll(fe1, "Init Err"), now=at(0))
    alerts_tick(hosts=poll(fe1, "Init Err"), now=at(30))
    assert [a.state for a in member_alerts()] == [AlertState.PENDING]
    for t in (40, 100, 200):
        alerts_tick(hosts=poll(fe1), now=at(t))
    assert member_alerts() == [] and Notification.objects.count() == 0 and mailoutbox == []


def test_a_flapping_member_produces_one_alert_and_one_recovery_not_sixty(fe1, mailoutbox):
    for tick in range(60):  # down, up, down, up ... every 30 s for half an hour
        alerts_tick(hosts=poll(fe1, "Init Err" if tick % 2 == 0 else "Init Ok"), now=at(tick * 30))
    for tick in range(60, 64):  # then steady for two minutes
        alerts_tick(hosts=poll(fe1), now=at(tick * 30))
    [alert] = member_alerts()
    assert alert.state == AlertState.RESOLVED and alert.subject == "fe1/bronze/zope2"
    assert alert.fired_at == at(60) and alert.resolved_at == at(61 * 30)  # clear since 59 * 30, for the 60 s grace
    assert (messages(NotificationKind.FIRE), messages(NotificationKind.RECOVERY)) == (1, 1)
    assert [m.subject.split(":")[0] for m in mailoutbox] == ["[HostPanel] ALERT", "[HostPanel] RESOLVED"]
    assert "zope2 of bronze is down on fe1" in mailoutbox[0].subject and mailoutbox[0].to == ["oncall@example.net"]


def test_an_alert_that_holds_is_repeated_after_the_repeat_interval_only(fe1):
    for minute in range(0, 130, 1):
        alerts_tick(hosts=poll(fe1, "Init Err"), now=at(minute * 60))
    assert (messages(NotificationKind.FIRE), messages(NotificationKind.REPEAT)) == (1, 2)  # at 1, 61 and 121 min


def test_a_front_end_that_stops_answering_is_an_alert_of_its_own(fe1, actor):
    alert_channel_create(actor=actor, name="fe-mail", kind="email", target="ops@example.net", events=["frontend_down"])
    down = [FrontEndLive(fe1.pk, "fe1", "http://x", HostState.REFUSED, "connection refused by 127.0.0.1:1")]
    alerts_tick(hosts=down, now=at(0))
    alerts_tick(hosts=down, now=at(61))
    alert = Alert.objects.get(event="frontend_down")
    assert alert.state == AlertState.OPEN and "does not answer (refused)" in alert.summary
    assert Notification.objects.get(alert=alert).channel_name == "fe-mail"


def test_a_failed_then_reverted_deployment_and_a_host_left_behind_fire_at_once(fe1, actor):
    alert_channel_create(
        actor=actor, name="deploys", kind="email", target="d@example.net",
        events=["deployment_failed", "deployment_reverted", "host_behind"],
    )  # fmt: skip
    failed = Deployment.objects.create(status=DeploymentStatus.FAILED, actor="x")
    DeploymentHost.objects.create(
        deployment=failed, frontend=fe1, frontend_name="fe1", status=HostStatus.FAILED, error="boom"
    )
    alerts_tick(now=at(0))
    assert Alert.objects.get(event="deployment_failed").state == AlertState.OPEN
    reverted = Deployment.objects.create(status=DeploymentStatus.REVERTED, actor="x")
    DeploymentHost.objects.create(
        deployment=reverted, frontend=fe1, frontend_name="fe1", status=HostStatus.REVERTED, error="probes failed"
    )
    alerts_tick(now=at(10))
    states = {a.event: a.state for a in Alert.objects.all()}
    assert states == {"deployment_failed": "resolved", "deployment_reverted": "open", "host_behind": "open"}
    good = Deployment.objects.create(status=DeploymentStatus.SUCCEEDED, actor="x")
    DeploymentHost.objects.create(deployment=good, frontend=fe1, frontend_name="fe1", status=HostStatus.SUCCEEDED)
    alerts_tick(now=at(20))
    assert set(Alert.objects.values_list("state", flat=True)) == {"resolved"}
    assert messages(NotificationKind.RECOVERY) == 3


def test_a_certificate_expiring_within_14_days_is_reported(fe1, demo, actor):
    alert_channel_create(
        actor=actor, name="certs", kind="email", target="c@example.net", events=["certificate_expiring"]
    )
    site = Site.objects.get(domain="linux.co.uk")
    soon = timezone.now() + datetime.timedelta(days=10)
    Certificate.objects.create(
        site=site, status="valid", not_after=soon, certificate_pem="x", private_key_encrypted="x"
    )
    alerts_tick()
    alert = Alert.objects.get(event="certificate_expiring")
    assert alert.subject == "linux.co.uk" and alert.state == AlertState.OPEN


def test_a_deployment_queued_past_the_longest_requeue_wait_is_alerted_until_a_worker_takes_it(fe1, actor, settings):
    settings.HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS = 900
    alert_channel_create(
        actor=actor, name="queue", kind="email", target="q@example.net", events=["deployment_waiting"]
    )  # fmt: skip
    stuck = Deployment.objects.create(status=DeploymentStatus.QUEUED, actor="x", enqueue_attempts=7)
    Deployment.objects.filter(pk=stuck.pk).update(created_at=at(0))
    alerts_tick(now=at(899))
    assert not Alert.objects.filter(event="deployment_waiting").exists()  # within the longest wait
    alerts_tick(now=at(1000))
    alert = Alert.objects.get(event="deployment_waiting")
    assert alert.state == AlertState.OPEN
    assert alert.summary == f"Deployment #{stuck.pk} has waited 16 min in the queue"
    assert "handed to the task queue 7 time(s)" in alert.detail and "deploy worker" in alert.detail
    assert messages(NotificationKind.FIRE) == 1
    Deployment.objects.filter(pk=stuck.pk).update(status=DeploymentStatus.RUNNING)  # a worker took it
    alerts_tick(now=at(1010))
    assert Alert.objects.get(event="deployment_waiting").state == AlertState.RESOLVED
