"""Monthly traffic quotas: notices at 80 % and 100 % (to the alert channels that take `site_quota`), or
suspension at 100 % and unsuspension at the next month — each once per site and month, audited, and never
touching a site suspended by someone else."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from freezegun import freeze_time

from alerts.models import Alert, Notification
from alerts.services import alert_channel_create, alerts_evaluate
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from metering import services
from metering.models import QuotaEvent, QuotaPolicy, SiteQuota
from metering.services import QUOTA_REASON, quota_unsuspend_due, quotas_evaluate, site_quota_set, usage_counted
from sites import services as site_services
from sites.choices import SiteStatus
from sites.models import Site
from tests.metering.usage_factories import at, client_sites, usage_day, usage_hour

NOVEMBER = datetime.date(2026, 11, 1)
GB = 10**9


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


@pytest.fixture
def channel(db):
    return alert_channel_create(
        actor=Actor.command("tests"),
        name="billing-mail",
        kind="email",
        target="billing@example.com",
        events=["site_quota"],
    )


@pytest.fixture
def staff_channel(db):
    return alert_channel_create(
        actor=Actor.command("tests"),
        name="oncall",
        kind="email",
        target="oncall@example.com",
        events=["deployment_failed"],
    )


def kinds(site: Site, month=NOVEMBER) -> list[str]:
    return list(QuotaEvent.objects.filter(site=site, month=month).order_by("at", "pk").values_list("kind", flat=True))


def quota(site: Site, limit: int, policy: str) -> SiteQuota:
    return SiteQuota.objects.create(site=site, monthly_bytes_out=limit, policy=policy)


@freeze_time("2026-11-10 12:00:00")
def test_notify_sends_one_notice_at_80_and_one_at_100_percent(site, channel, staff_channel):
    quota(site, 10 * GB, QuotaPolicy.NOTIFY)
    usage_hour(site, at("2026-11-02 10"), bytes_out=7 * GB)
    assert usage_counted([site.pk], [NOVEMBER]) == []  # 70 %
    usage_hour(site, at("2026-11-03 10"), bytes_out=int(1.5 * GB))
    assert [e.kind for e in usage_counted([site.pk], [NOVEMBER])] == ["warn80"]
    assert usage_counted([site.pk], [NOVEMBER]) == []  # once per month
    usage_day(site, datetime.date(2026, 11, 1), bytes_out=2 * GB)  # rolled-up days count too
    assert [e.kind for e in usage_counted([site.pk], [NOVEMBER])] == ["reached100"]
    usage_hour(site, at("2026-11-04 10"), bytes_out=50 * GB)
    assert usage_counted([site.pk], [NOVEMBER]) == []

    notices = list(Notification.objects.order_by("pk"))
    assert [n.channel_name for n in notices] == ["billing-mail", "billing-mail"]  # not the on-call channel
    assert [n.payload["data"]["quota_event"] for n in notices] == ["warn80", "reached100"]
    assert notices[1].payload["data"] | {"bytes_out": 0} == {
        "site": "linux.co.uk",
        "customer_ref": site.customer_ref,
        "month": "2026-11",
        "quota_event": "reached100",
        "bytes_out": 0,
        "monthly_bytes_out": 10 * GB,
        "policy": "notify",
    }
    assert "reached its monthly traffic quota" in notices[1].payload["summary"]
    assert Site.objects.get(pk=site.pk).status == SiteStatus.ACTIVE
    # a notice is done when sent: the alert tick neither repeats nor "resolves" it
    alerts_evaluate(now=datetime.datetime(2026, 11, 11, tzinfo=datetime.UTC))
    assert Notification.objects.count() == 2
    assert set(Alert.objects.values_list("state", flat=True)) == {"resolved"}


@freeze_time("2026-11-10 12:00:00")
def test_suspend_suspends_at_100_percent_once_audited_with_the_reason(site, channel):
    quota(site, 10 * GB, QuotaPolicy.SUSPEND)
    usage_hour(site, at("2026-11-02 10"), bytes_out=9 * GB)
    usage_counted([site.pk], [NOVEMBER])
    usage_hour(site, at("2026-11-02 11"), bytes_out=1 * GB)
    assert [e.kind for e in usage_counted([site.pk], [NOVEMBER])] == ["reached100", "suspended"]
    site.refresh_from_db()
    assert (site.status, site.suspended_reason) == (SiteStatus.SUSPENDED, QUOTA_REASON)
    entry = AuditEntry.objects.filter(action="site.suspend", object_key="linux.co.uk").get()
    assert (entry.actor, entry.source) == ("traffic-quota", "system")
    assert [n.payload["data"]["quota_event"] for n in Notification.objects.order_by("pk")] == ["warn80", "suspended"]

    # staff bring it back within the month: the quota does not suspend it a second time this month
    site_services.site_unsuspend(site, actor=Actor.command("staff"))
    usage_hour(site, at("2026-11-05 10"), bytes_out=1 * GB)
    assert usage_counted([site.pk], [NOVEMBER]) == []
    assert Site.objects.get(pk=site.pk).status == SiteStatus.ACTIVE


def test_the_next_month_brings_back_only_what_the_quota_suspended(demo, channel):
    ours, staffs, rebilled = client_sites(3)
    with freeze_time("2026-11-10 12:00:00"):
        for site in (ours, staffs, rebilled):
            quota(site, 1 * GB, QuotaPolicy.SUSPEND)
            usage_hour(site, at("2026-11-02 10"), bytes_out=2 * GB)
        site_services.site_suspend(staffs, actor=Actor.command("staff"), reason="abuse report")  # before the quota
        usage_counted([ours.pk, staffs.pk, rebilled.pk], [NOVEMBER])
        assert kinds(ours) == ["reached100", "suspended"] and kinds(staffs) == ["reached100"]
        notices = [(n.payload["data"]["site"], n.payload["data"]["quota_event"]) for n in Notification.objects.all()]
        assert (staffs.domain, "reached100") in notices  # told, not suspended a second time
        assert (ours.domain, "suspended") in notices and (ours.domain, "reached100") not in notices
        # billing suspends a quota-suspended site for another reason: it stays suspended next month
        site_services.site_suspend(Site.objects.get(pk=rebilled.pk), actor=Actor.command("whmcs"), reason="unpaid")
        assert quota_unsuspend_due() == []  # not a new month yet
    with freeze_time("2026-12-01 00:01:00"):
        back = quota_unsuspend_due()
        assert [s.domain for s in back] == [ours.domain]
        assert quota_unsuspend_due() == []  # once
    statuses = dict(Site.objects.filter(pk__in=[ours.pk, staffs.pk, rebilled.pk]).values_list("pk", "suspended_reason"))
    assert Site.objects.get(pk=ours.pk).status == SiteStatus.ACTIVE
    assert statuses[staffs.pk] == "abuse report" and statuses[rebilled.pk] == "unpaid"
    assert kinds(ours) == ["reached100", "suspended", "unsuspended"]
    assert AuditEntry.objects.filter(action="site.unsuspend", actor="traffic-quota").count() == 1


@freeze_time("2026-12-01 03:00:00")
def test_a_late_count_of_last_month_is_reported_but_suspends_nothing(site, channel):
    quota(site, 1 * GB, QuotaPolicy.SUSPEND)
    usage_hour(site, at("2026-11-30 23"), bytes_out=2 * GB)  # collected after the month ended
    assert [e.kind for e in usage_counted([site.pk], [at("2026-11-30 23")])] == ["reached100"]
    assert Site.objects.get(pk=site.pk).status == SiteStatus.ACTIVE
    assert Notification.objects.get().payload["data"]["month"] == "2026-11"


@freeze_time("2026-11-10 12:00:00")
def test_setting_a_quota_is_validated_audited_and_evaluated_at_once(site, channel):
    with pytest.raises(ValidationError) as caught:
        site_quota_set(site, actor=Actor.command("tests"), monthly_bytes_out=0, policy="notify")
    assert "monthly_bytes_out" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        site_quota_set(site, actor=Actor.command("tests"), monthly_bytes_out=GB, policy="shout")
    assert "policy" in caught.value.message_dict
    usage_hour(site, at("2026-11-02 10"), bytes_out=9 * GB)
    site_quota_set(site, actor=Actor.command("tests"), monthly_bytes_out=10 * GB, policy="notify")
    assert kinds(site) == ["warn80"]
    site_quota_set(site, actor=Actor.command("tests"), monthly_bytes_out=None)
    assert not SiteQuota.objects.exists()
    actions = list(AuditEntry.objects.filter(object_type="sitequota").values_list("action", flat=True))
    assert sorted(actions) == ["sitequota.create", "sitequota.delete"]


@freeze_time("2026-11-10 12:00:00")
def test_the_hook_costs_a_fixed_number_of_queries_and_never_raises(
    demo, channel, django_assert_max_num_queries, monkeypatch
):
    sites = client_sites(20)
    for site in sites:
        quota(site, 100 * GB, QuotaPolicy.NOTIFY)
        usage_hour(site, at("2026-11-02 10"), bytes_out=GB)
    with django_assert_max_num_queries(4):
        assert usage_counted([s.pk for s in sites], [NOVEMBER]) == []
    with django_assert_max_num_queries(1):
        assert usage_counted([], [NOVEMBER]) == []

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "quotas_evaluate", broken)
    assert usage_counted([sites[0].pk], [NOVEMBER]) == []


@freeze_time("2026-11-10 12:00:00")
def test_every_quota_is_evaluated_without_site_ids(site):
    quota(site, 1 * GB, QuotaPolicy.NOTIFY)
    usage_hour(site, at("2026-11-02 10"), bytes_out=GB)
    assert [e.kind for e in quotas_evaluate()] == ["reached100"]


def test_reap_loop_brings_back_quota_suspended_sites_at_the_new_month(site, channel):
    with freeze_time("2026-11-10 12:00:00"):
        quota(site, GB, QuotaPolicy.SUSPEND)
        usage_hour(site, at("2026-11-02 10"), bytes_out=2 * GB)
        usage_counted([site.pk], [NOVEMBER])
        assert Site.objects.get(pk=site.pk).status == SiteStatus.SUSPENDED
    out = io.StringIO()
    with freeze_time("2026-12-01 00:00:30"):
        call_command("reap", "--loop", "--rounds", "1", "--interval", "1", stdout=out)
    assert "unsuspended linux.co.uk: a new month of its traffic quota" in out.getvalue()
    assert Site.objects.get(pk=site.pk).status == SiteStatus.ACTIVE


@freeze_time("2026-11-10 12:00:00")
def test_manage_py_usage_quotas_evaluates_every_quota(site, capsys):
    quota(site, GB, QuotaPolicy.NOTIFY)
    usage_hour(site, at("2026-11-02 10"), bytes_out=GB)
    call_command("usage_quotas")
    assert "1 quota event(s): linux.co.uk reached100" in capsys.readouterr().out
