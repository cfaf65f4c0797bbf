"""Polling every front-end's balancer-manager into StatusSample rows (the dashboard's history) and one
FrontEndSnapshot per front-end (its latest answer: what the dashboard and GET /api/v1/status/ show, so
that open browsers never multiply the requests to the front-ends); and, in the same round and by the same
deadline, its mod_status (`/server-status?auto`) into one WorkerSample per front-end (the capacity view and
the saturation alert). Both histories are kept HOSTPANEL_STATUS_HISTORY_MINUTES.

`manage.py poll_status --loop` calls poll_once every HOSTPANEL_STATUS_POLL_SECONDS. `refresh_snapshots` is
the on-demand read ("refresh now", `?live=1`).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.dispatch import Signal
from django.utils import timezone

from balancers.capacity import ApacheFacts
from balancers.models import FrontEnd, FrontEndSnapshot, StatusSample, WorkerSample
from status.manager import ManagerEndpoint, fetch_all, fetch_round
from status.modstatus import WorkerRead, requests_per_second
from status.parse import FrontEndLive, HostState, balancers_from_payload, live_payload

log = logging.getLogger(__name__)

# Sent after every round with hosts=[FrontEndLive], workers=[WorkerRead] and taken_at: the alerts app
# evaluates it (alerts/apps.py).
polled = Signal()


def history_window() -> datetime.timedelta:
    """How long samples are kept (HOSTPANEL_STATUS_HISTORY_MINUTES, default 120: the dashboard shows one hour)."""
    return datetime.timedelta(minutes=settings.HOSTPANEL_STATUS_HISTORY_MINUTES)


@dataclass(frozen=True)
class PollResult:
    hosts: int
    hosts_ok: int
    samples: int
    pruned: int
    failures: tuple[str, ...] = ()
    worker_samples: int = 0
    worker_failures: tuple[str, ...] = ()


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


def enabled_frontends() -> list[FrontEnd]:
    return list(FrontEnd.objects.filter(enabled=True).order_by("name"))


def enabled_endpoints() -> list[ManagerEndpoint]:
    return [ManagerEndpoint.of(f) for f in enabled_frontends()]


def prune_samples(now: datetime.datetime | None = None) -> int:
    """Delete balancer-manager and mod_status samples older than the history window."""
    cutoff = (now or timezone.now()) - history_window()
    deleted, _ = StatusSample.objects.filter(taken_at__lt=cutoff).delete()
    workers, _ = WorkerSample.objects.filter(taken_at__lt=cutoff).delete()
    return deleted + workers


def worker_samples_from(
    reads: list[WorkerRead], frontends: list[FrontEnd], taken_at: datetime.datetime
) -> list[WorkerSample]:
    """One WorkerSample per front-end whose mod_status answered, with MaxRequestWorkers from its
    apache_facts and requests/s from its previous sample's Total Accesses (one query for all of them)."""
    answered = {r.frontend_id: r for r in reads if r.ok and r.frontend_id is not None}
    if not answered:
        return []
    latest = WorkerSample.objects.filter(frontend=OuterRef("pk")).order_by("-taken_at", "-id")
    previous = {
        pk: (total, at)
        for pk, total, at in FrontEnd.objects.filter(pk__in=answered)
        .annotate(
            last_total=Subquery(latest.values("total_accesses")[:1]), last_at=Subquery(latest.values("taken_at")[:1])
        )
        .values_list("pk", "last_total", "last_at")
    }  # a front-end deleted meanwhile is not in it, and gets no row
    limits = {f.pk: ApacheFacts.of(f).max_workers for f in frontends}
    rows = []
    for pk, read in answered.items():
        if pk not in previous or read.figures is None:
            continue
        figures = read.figures
        last_total, last_at = previous[pk]
        rows.append(
            WorkerSample(
                frontend_id=pk,
                taken_at=taken_at,
                busy=max(figures.busy, 0),
                idle=max(figures.idle, 0),
                graceful=max(figures.graceful, 0),
                slots=max(figures.slots, 0),
                max_workers=max(limits.get(pk, 0), 0),
                connections=max(figures.connections, 0),
                keepalive=max(figures.keepalive, 0),
                closing=max(figures.closing, 0),
                total_accesses=figures.total_accesses,
                requests_per_second=requests_per_second(last_total, last_at, figures.total_accesses, taken_at),
            )
        )
    return rows


SNAPSHOT_FIELDS = ("fetched_at", "state", "reason", "duration", "payload")


def store_snapshots(hosts: list[FrontEndLive]) -> int:
    """Keep each host's answer as its front-end's latest snapshot (one upsert for all of them)."""
    ids = {h.frontend_id for h in hosts if h.frontend_id is not None}
    existing = set(FrontEnd.objects.filter(pk__in=ids).values_list("pk", flat=True))  # one deleted meanwhile
    rows = [
        FrontEndSnapshot(
            frontend_id=h.frontend_id,
            fetched_at=h.fetched_at,
            state=str(h.state),
            reason=h.reason[:300],
            duration=h.duration,
            payload=live_payload(h.balancers) if h.ok else [],
        )
        for h in hosts
        if h.frontend_id in existing and h.fetched_at is not None  # an unpolled host has no sample to keep
    ]
    FrontEndSnapshot.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["frontend"], update_fields=SNAPSHOT_FIELDS
    )
    return len(rows)


def latest_hosts(frontends: list[FrontEnd]) -> list[FrontEndLive]:
    """Each front-end's latest snapshot as a FrontEndLive (no request to any front-end). Read the
    front-ends with select_related("live_snapshot"): then this costs no query at all."""
    hosts = []
    for frontend in frontends:
        try:
            snapshot = frontend.live_snapshot
        except FrontEndSnapshot.DoesNotExist:
            hosts.append(
                FrontEndLive(
                    frontend.pk,
                    frontend.name,
                    frontend.balancer_manager_url,
                    HostState.UNPOLLED,
                    "no sample yet: is the poller running (manage.py poll_status --loop)?",
                    fetched_at=None,
                )
            )
            continue
        try:
            state = HostState(snapshot.state)
            balancers = balancers_from_payload(snapshot.payload) if state == HostState.OK else ()
        except (ValueError, TypeError, KeyError):
            state, balancers = HostState.JUNK, ()  # a row written by another version: shown, not a crash
        hosts.append(
            FrontEndLive(
                frontend.pk,
                frontend.name,
                frontend.balancer_manager_url,
                state,
                snapshot.reason,
                balancers,
                fetched_at=snapshot.fetched_at,
                duration=snapshot.duration,
            )
        )
    return hosts


def refresh_snapshots(*, timeout: float | None = None) -> list[FrontEndLive]:
    """Ask every enabled front-end now (on demand) and keep the answers as the latest snapshots."""
    hosts = fetch_all(enabled_endpoints(), timeout=timeout)
    store_snapshots(hosts)
    return hosts


def poll_once(*, timeout: float | None = None) -> PollResult:
    """Fetch every enabled front-end's balancer-manager and mod_status concurrently (one deadline for the
    round), store one sample per member, one worker sample per front-end and each front-end's latest
    snapshot, prune old samples. A constant number of queries whatever the number of front-ends."""
    frontends = enabled_frontends()
    hosts, reads = fetch_round([ManagerEndpoint.of(f) for f in frontends], timeout=timeout)
    store_snapshots(hosts)
    now = timezone.now()
    rows = samples_from(hosts, now)
    StatusSample.objects.bulk_create(rows, batch_size=500)
    worker_rows = worker_samples_from(reads, frontends, now)
    WorkerSample.objects.bulk_create(worker_rows, batch_size=500)
    pruned = prune_samples(now)
    failures = tuple(f"{h.frontend_name}: {h.state} {h.reason}" for h in hosts if not h.ok)
    for failure in failures:
        log.warning("balancer-manager poll: %s", failure)
    # a front-end without mod_status (unconfigured) is no news at every round
    worker_failures = tuple(
        f"{r.frontend_name}: {r.state} {r.reason}" for r in reads if not r.ok and r.state != HostState.UNCONFIGURED
    )
    for failure in worker_failures:
        log.warning("mod_status poll: %s", failure)
    for _receiver, error in polled.send_robust(sender=PollResult, hosts=hosts, workers=reads, taken_at=now):
        if isinstance(error, Exception):
            log.error("after the poll: %s: %s", type(error).__name__, error)
    return PollResult(
        len(hosts), sum(h.ok for h in hosts), len(rows), pruned, failures, len(worker_rows), worker_failures
    )
