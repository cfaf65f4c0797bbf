"""Reads of front-end capacity: the mod_status samples (WorkerSample, stored by status.poller) as an hour of
busy workers against MaxRequestWorkers per front-end (the dashboard, GET /api/v1/status/ and the front-end
page), and the sizing advice with the peak seen (the front-end page). No request to any front-end."""

from __future__ import annotations

import datetime
from typing import Annotated, TypedDict

from django.conf import settings
from django.db.models import F, Max

from balancers.capacity import ApacheFacts, SizingAdvice, peak_clients_seen, sizing_advice
from balancers.choices import RenderMode
from balancers.models import Balancer, FrontEnd, WorkerSample
from hostpanel.readmodel import DATETIME, Help

USAGE_MINUTES = 60


class WorkersNow(TypedDict):
    taken_at: Annotated[str, DATETIME]
    busy: Annotated[int, Help("BusyWorkers: threads serving a request.")]
    idle: Annotated[int, Help("IdleWorkers: threads waiting for one.")]
    graceful: Annotated[int, Help("Threads of an old generation finishing (after a graceful restart).")]
    keepalive: Annotated[int, Help("Idle keep-alive connections (event MPM).")]
    closing: Annotated[int, Help("Connections being closed (event MPM).")]
    connections: Annotated[int, Help("ConnsTotal.")]
    requests_per_second: Annotated[float | None, Help("Since the previous sample; null without ExtendedStatus.")]


class StatusWorkers(TypedDict):
    limit: Annotated[int, Help("MaxRequestWorkers (from the connection test), else the scoreboard's slots; 0: none.")]
    limit_source: Annotated[str, Help("MaxRequestWorkers, scoreboard slots, or empty when no sample.")]
    latest: Annotated[WorkersNow | None, Help("The latest mod_status sample; null when none in the last hour.")]
    percent: Annotated[float | None, Help("Busy workers of the limit in the latest sample, in %.")]
    saturated: Annotated[bool, Help("The latest sample is at or above HOSTPANEL_SATURATION_PERCENT.")]
    stale: Annotated[bool, Help("No sample in the last three poll intervals (mod_status not read, or no poller).")]
    busy: Annotated[list[int | None], Help("Most busy workers per time bucket over the last hour (null: no sample).")]
    minutes: int


def _buckets() -> int:
    return min(max(USAGE_MINUTES * 60 // max(settings.HOSTPANEL_STATUS_POLL_SECONDS, 1), 2), 120)


def empty_usage() -> StatusWorkers:
    return {
        "limit": 0,
        "limit_source": "",
        "latest": None,
        "percent": None,
        "saturated": False,
        "stale": True,
        "busy": [None] * _buckets(),
        "minutes": USAGE_MINUTES,
    }


def worker_usage(frontend_ids: list[int], *, now: datetime.datetime) -> dict[int, StatusWorkers]:
    """An hour of mod_status samples per front-end id (one query whatever the number of front-ends)."""
    buckets = _buckets()
    start = now - datetime.timedelta(minutes=USAGE_MINUTES)
    width = USAGE_MINUTES * 60 / buckets
    stale_after = datetime.timedelta(seconds=3 * max(settings.HOSTPANEL_STATUS_POLL_SECONDS, 1))
    samples = (
        WorkerSample.objects.filter(frontend_id__in=frontend_ids, taken_at__gte=start, taken_at__lte=now)
        .order_by("taken_at", "id")
        .values_list(
            "frontend_id", "taken_at", "busy", "idle", "graceful", "keepalive", "closing", "connections",
            "requests_per_second", "max_workers", "slots",
        )
    )  # fmt: skip
    usage: dict[int, StatusWorkers] = {}
    for pk, taken_at, busy, idle, graceful, keepalive, closing, connections, rps, max_workers, slots in samples:
        entry = usage.setdefault(pk, empty_usage())
        index = min(int((taken_at - start).total_seconds() // width), buckets - 1)
        entry["busy"][index] = max(entry["busy"][index] or 0, busy)
        entry["latest"] = {
            "taken_at": taken_at.isoformat(),
            "busy": busy,
            "idle": idle,
            "graceful": graceful,
            "keepalive": keepalive,
            "closing": closing,
            "connections": connections,
            "requests_per_second": rps,
        }
        entry["limit"] = max_workers or slots
        entry["limit_source"] = "MaxRequestWorkers" if max_workers else "scoreboard slots"
        entry["stale"] = now - taken_at > stale_after
    percent_limit = float(settings.HOSTPANEL_SATURATION_PERCENT)
    for entry in usage.values():
        latest = entry["latest"]
        if latest is not None and entry["limit"]:
            entry["percent"] = round(100 * latest["busy"] / entry["limit"], 1)
            entry["saturated"] = entry["percent"] >= percent_limit
    return usage


def uses_node_vhosts() -> bool:
    """Any balancer renders node vhosts: a request holds a worker on each of its two hops."""
    return Balancer.objects.filter(render_mode=RenderMode.NODE_VHOSTS).exists()


def peak_seen(frontend: FrontEnd, *, node_vhosts: bool) -> int | None:
    """The most clients seen at once in the kept mod_status samples (busy + keep-alive), or None."""
    peak = WorkerSample.objects.filter(frontend=frontend).aggregate(peak=Max(F("busy") + F("keepalive")))["peak"]
    return None if peak is None else peak_clients_seen([(peak, 0)], node_vhosts=node_vhosts)


def frontend_sizing(frontend: FrontEnd, *, peak_clients: int | None = None) -> SizingAdvice:
    """The sizing advice for this front-end: with `peak_clients` when given (the page's form), else the peak
    its samples show."""
    node_vhosts = uses_node_vhosts()
    source = "as given"
    if peak_clients is None:
        peak_clients = peak_seen(frontend, node_vhosts=node_vhosts)
        hours = settings.HOSTPANEL_STATUS_HISTORY_MINUTES / 60
        source = f"the most seen in mod_status over the last {hours:g} h"
    return sizing_advice(ApacheFacts.of(frontend), peak_clients, node_vhosts=node_vhosts, peak_source=source)
