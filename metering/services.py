"""Writes of the metering app's reading half: a site's monthly traffic quota (set, removed) and what the quota
does as usage is counted.

Policies (metering.models.QuotaPolicy), measured on bytes out in a calendar month (UTC):
* notify:  a notice at 80 % and at 100 %;
* suspend: a notice at 80 %; at 100 % the site is suspended through sites.services.site_suspend (audited,
  reason QUOTA_REASON) and a notice says so; at the next month `quota_unsuspend_due` brings back the sites the
  quota suspended — never a site suspended by staff or billing, nor one whose reason changed since.
Each step happens once per site and month: QuotaEvent (site, month, kind) is unique, and the event row is
written in the same transaction as what it did. Notices go to every alert channel that takes the
`site_quota` event (a billing system subscribes a webhook channel to it; see README "Quotas").

The collection (metering, the other half) calls `usage_counted(site_ids, months)` after each committed file."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from alerts.choices import AlertEvent
from alerts.services import alert_notice
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import delete_audited, save_validated
from metering.models import QuotaEvent, QuotaPolicy, SiteQuota
from metering.selectors import month_bytes_out, month_start
from metering.units import human_bytes
from sites import services as site_services
from sites.choices import SiteStatus
from sites.models import Site

log = logging.getLogger(__name__)

QUOTA_REASON = "monthly traffic quota reached"
QUOTA_ACTOR = Actor(name="traffic-quota", source="system")


class QuotaKind:
    WARN80 = "warn80"
    REACHED100 = "reached100"
    SUSPENDED = "suspended"
    UNSUSPENDED = "unsuspended"


# --- the quota of a site (web form and API) -------------------------------------------------------------


@transaction.atomic
def site_quota_set(
    site: Site, *, actor: Actor, monthly_bytes_out: int | None, policy: str = QuotaPolicy.NOTIFY
) -> SiteQuota | None:
    """Set (or with monthly_bytes_out=None remove) the site's monthly bytes-out quota; audited. The current
    month is evaluated at once, so a quota set below what the site already used acts now."""
    current = SiteQuota.objects.select_for_update().filter(site=site).first()
    if monthly_bytes_out is None:
        if current is not None:
            delete_audited(current, actor=actor, action="sitequota.delete", key=site.domain)
        return None
    quota = current or SiteQuota(site=site)
    before = audit.snapshot(current) if current is not None else None
    if current is not None and (current.monthly_bytes_out, current.policy) == (monthly_bytes_out, policy):
        return current
    quota.monthly_bytes_out, quota.policy = monthly_bytes_out, policy
    save_validated(
        quota, actor=actor, action="sitequota.update" if current else "sitequota.create", key=site.domain, before=before
    )
    quotas_evaluate(site_ids=[site.pk])
    return quota


# --- evaluation: the hook the collection calls -----------------------------------------------------------


def usage_counted(site_ids: Iterable[int], months: Iterable[datetime.date | datetime.datetime]) -> list[QuotaEvent]:
    """Hook for the collection: call after each committed file with the ids of the sites it counted and the
    calendar months its hours fall in (any date or datetime of the month). Evaluates the quotas of those
    sites; returns the events it recorded. A failure here is logged, never raised into the collection:
    the counts are committed, and the next file (or `manage.py usage_quotas`) evaluates again."""
    try:
        return quotas_evaluate(site_ids=list(site_ids), months=list(months))
    except Exception:
        log.exception("quota evaluation failed; it runs again after the next collected file")
        return []


def quotas_evaluate(
    *,
    site_ids: list[int] | None = None,
    months: list[datetime.date | datetime.datetime] | None = None,
    now: datetime.datetime | None = None,
) -> list[QuotaEvent]:
    """Evaluate the quotas of the given sites (None: every site with a quota) for the given months (None: the
    current one). Queries: one for the quotas, then two per month for usage and one for its events, whatever
    the number of sites; plus the writes of what crossed a threshold."""
    now = now or timezone.now()
    current = month_start(now).date()
    wanted = sorted({month_start(m).date() for m in (months or [now])})
    quotas = SiteQuota.objects.select_related("site").order_by()
    if site_ids is not None:
        if not site_ids:
            return []
        quotas = quotas.filter(site_id__in=site_ids)
    by_site = {q.site_id: q for q in quotas}
    if not by_site:
        return []
    recorded: list[QuotaEvent] = []
    for month in wanted:
        if month > current:
            continue
        used = month_bytes_out(list(by_site), month)
        done: set[tuple[int, str]] = set(
            QuotaEvent.objects.filter(site_id__in=list(by_site), month=month).values_list("site_id", "kind")
        )
        for site_id, quota in by_site.items():
            bytes_out = used.get(site_id, 0)
            if bytes_out * 5 < quota.monthly_bytes_out * 4:  # under 80 %
                continue
            recorded += _act(quota, month, bytes_out, done, now=now, late=month < current)
    return recorded


def _act(
    quota: SiteQuota,
    month: datetime.date,
    bytes_out: int,
    done: set[tuple[int, str]],
    *,
    now: datetime.datetime,
    late: bool,
) -> list[QuotaEvent]:
    site = quota.site
    full = bytes_out >= quota.monthly_bytes_out
    events: list[QuotaEvent] = []
    if (site.pk, QuotaKind.WARN80) not in done and not full:
        events += _event(site, month, QuotaKind.WARN80, bytes_out, quota, now=now)
    # a late count of a past month is reported, never a reason to suspend now; a site suspended already (by
    # staff or billing) is left as it is, and a site staff brought back this month is not suspended again
    suspend = (
        full
        and quota.policy == QuotaPolicy.SUSPEND
        and not late
        and (site.pk, QuotaKind.SUSPENDED) not in done
        and site.status == SiteStatus.ACTIVE
    )
    if full and (site.pk, QuotaKind.REACHED100) not in done:
        events += _event(site, month, QuotaKind.REACHED100, bytes_out, quota, now=now, notify=not suspend)
    if suspend:
        events += _suspend(site, month, bytes_out, quota, now=now)
    return events


def _summary(site: Site, kind: str, bytes_out: int, quota: SiteQuota | None, month: datetime.date) -> str:
    if kind == QuotaKind.UNSUSPENDED or quota is None:
        return f"{site.domain} is back: a new month of its traffic quota ({month:%Y-%m})"
    share = bytes_out * 100 // quota.monthly_bytes_out
    used = f"{human_bytes(bytes_out)} of {human_bytes(quota.monthly_bytes_out)} ({share} %) in {month:%Y-%m}"
    return {
        QuotaKind.WARN80: f"{site.domain} has used 80 % of its monthly traffic quota: {used}",
        QuotaKind.REACHED100: f"{site.domain} has reached its monthly traffic quota: {used}",
        QuotaKind.SUSPENDED: f"{site.domain} is suspended: monthly traffic quota reached, {used}",
    }[kind]


def _notice(
    site: Site, kind: str, month: datetime.date, bytes_out: int, quota: SiteQuota | None, now: datetime.datetime
) -> None:
    limit = quota.monthly_bytes_out if quota is not None else None
    policy = quota.policy if quota is not None else None
    alert_notice(
        event=AlertEvent.SITE_QUOTA,
        subject=site.domain,
        summary=_summary(site, kind, bytes_out, quota, month),
        detail=f"Policy {policy or '-'}; bytes out {bytes_out} of {limit or '-'} in {month:%Y-%m} (UTC).",
        data={
            "site": site.domain,
            "customer_ref": site.customer_ref,
            "month": f"{month:%Y-%m}",
            "quota_event": kind,
            "bytes_out": bytes_out,
            "monthly_bytes_out": limit,
            "policy": policy,
        },
        now=now,
    )


def _event(
    site: Site,
    month: datetime.date,
    kind: str,
    bytes_out: int,
    quota: SiteQuota,
    *,
    now: datetime.datetime,
    notify: bool = True,
) -> list[QuotaEvent]:
    """Record the event and send its notice in one transaction; nothing when another process recorded it first."""
    try:
        with transaction.atomic():
            event = QuotaEvent.objects.create(site=site, month=month, kind=kind, at=now, bytes_out=bytes_out)
            if notify:
                _notice(site, kind, month, bytes_out, quota, now)
    except IntegrityError:
        return []  # recorded by a concurrent evaluation: once per site and month
    return [event]


def _suspend(
    site: Site, month: datetime.date, bytes_out: int, quota: SiteQuota, *, now: datetime.datetime
) -> list[QuotaEvent]:
    try:
        with transaction.atomic():
            event = QuotaEvent.objects.create(
                site=site, month=month, kind=QuotaKind.SUSPENDED, at=now, bytes_out=bytes_out
            )
            fresh = Site.objects.select_for_update().get(pk=site.pk)
            if fresh.status != SiteStatus.ACTIVE:  # suspended meanwhile, by someone else: not the quota's
                raise _NotOurs
            site_services.site_suspend(fresh, actor=QUOTA_ACTOR, reason=QUOTA_REASON)
            _notice(site, QuotaKind.SUSPENDED, month, bytes_out, quota, now)
    except (IntegrityError, _NotOurs):
        return []
    site.status = SiteStatus.SUSPENDED
    return [event]


class _NotOurs(Exception):  # noqa: N818 - control flow: roll the event back
    pass


# --- the next month: bring back what the quota suspended -------------------------------------------------


def quota_unsuspend_due(*, now: datetime.datetime | None = None) -> list[Site]:
    """Unsuspend every site the quota suspended in an earlier month and that is still suspended for that
    reason (one query when none is due). Runs every round of `manage.py reap --loop`, and as
    `manage.py usage_quotas`. A site suspended again this month, or by staff or billing since (another
    reason), is left alone."""
    now = now or timezone.now()
    current = month_start(now).date()
    unsuspended = QuotaEvent.objects.filter(
        site_id=OuterRef("site_id"), month=OuterRef("month"), kind=QuotaKind.UNSUSPENDED
    )
    this_month = QuotaEvent.objects.filter(site_id=OuterRef("site_id"), month=current, kind=QuotaKind.SUSPENDED)
    due = (
        QuotaEvent.objects.filter(
            kind=QuotaKind.SUSPENDED,
            month__lt=current,
            site__status=SiteStatus.SUSPENDED,
            site__suspended_reason=QUOTA_REASON,
        )
        .exclude(Exists(unsuspended))
        .exclude(Exists(this_month))
        .select_related("site")
        .order_by("month", "site_id")
    )
    back: list[Site] = []
    for suspended in due:
        try:
            with transaction.atomic():
                QuotaEvent.objects.create(
                    site=suspended.site, month=suspended.month, kind=QuotaKind.UNSUSPENDED, at=now, bytes_out=0
                )
                site = Site.objects.select_for_update().get(pk=suspended.site_id)
                if site.status != SiteStatus.SUSPENDED or site.suspended_reason != QUOTA_REASON:
                    raise _NotOurs
                site = site_services.site_unsuspend(site, actor=QUOTA_ACTOR)
                _notice(site, QuotaKind.UNSUSPENDED, current, 0, getattr(site, "quota", None), now)
        except (IntegrityError, _NotOurs):
            continue
        back.append(site)
    return back
