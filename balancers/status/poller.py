"""Polling every front-end's balancer-manager into StatusSample rows (the dashboard's history).

`manage.py poll_status --loop` calls poll_once every HOSTPANEL_STATUS_POLL_SECONDS; the task
balancers.tasks.poll_status does one round on any django.tasks backend.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.dispatch import Signal
from django.utils import timezone

from balancers.models import FrontEnd, StatusSample
from balancers.status.client import ManagerEndpoint, fetch_all
from balancers.status.parse import FrontEndLive

log = logging.getLogger(__name__)

# Sent after every round with hosts=[FrontEndLive] and taken_at: the alerts app evaluates it (alerts/apps.py).
polled = Signal()


def history_window() -> datetime.timedelta:
    """How long samples are kept (HOSTPANEL_STATUS_HISTORY_MINUTES, default 120: the dashboard shows one hour)."""
    return datetime.timedelta(minutes=getattr(settings, "HOSTPANEL_STATUS_HISTORY_MINUTES", 120))


@dataclass(frozen=True)
class PollResult:
    hosts: int
    hosts_ok: int
    samples: int
    pruned: int
    failures: tuple[str, ...] = ()


def samples_from(hosts: list[FrontEndLive], taken_at: datetime.datetime) -> list[StatusSample]:
    rows = []
    for host in hosts:
        if not host.ok or host.frontend_id is None:
            continue
        for balancer in host.balancers:
            for member in balancer.members:
                rows.append(
                    StatusSample(
                        frontend_id=host.frontend_id,
                        taken_at=taken_at,
                        balancer=balancer.name[:64],
                        member_url=member.url[:300],
                        route=member.route[:64],
                        status=member.status.strip()[:64],
                        elected=max(member.elected, 0),
                        busy=max(member.busy, 0),
                        transferred=max(member.transferred, 0),
                        read=max(member.read, 0),
                    )
                )
    return rows


def enabled_endpoints() -> list[ManagerEndpoint]:
    return [ManagerEndpoint.of(f) for f in FrontEnd.objects.filter(enabled=True).order_by("name")]


def prune_samples(now: datetime.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - history_window()
    deleted, _ = StatusSample.objects.filter(taken_at__lt=cutoff).delete()
    return deleted


def poll_once(*, timeout: float | None = None) -> PollResult:
    """Fetch every enabled front-end concurrently, store one sample per member, prune old samples."""
    hosts = fetch_all(enabled_endpoints(), timeout=timeout)
    now = timezone.now()
    rows = samples_from(hosts, now)
    StatusSample.objects.bulk_create(rows, batch_size=500)
    pruned = prune_samples(now)
    failures = tuple(f"{h.frontend_name}: {h.state} {h.reason}" for h in hosts if not h.ok)
    for failure in failures:
        log.warning("balancer-manager poll: %s", failure)
    for _receiver, error in polled.send_robust(sender=PollResult, hosts=hosts, taken_at=now):
        if isinstance(error, Exception):
            log.error("after the poll: %s: %s", type(error).__name__, error)
    return PollResult(len(hosts), sum(h.ok for h in hosts), len(rows), pruned, failures)
