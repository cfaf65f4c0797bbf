"""The usage-log backlog of each front-end (reads only): closed files waiting to be collected, as the last
collection saw them (metering.collect writes CollectionState), or estimated while a front-end cannot be
reached. Read by the front-end page and the backlog alert (alerts.conditions)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from balancers.models import FrontEnd
from metering.models import CollectionState


def backlog_files(state: CollectionState, now: datetime.datetime) -> int:
    """The closed files waiting on a front-end: as last seen, or - when it cannot be reached - at least one
    per rotation interval since its last full collection (rotatelogs -c closes one per interval)."""
    since = state.collected_at or state.failing_since
    if state.error and since is not None:
        elapsed = int((now - since).total_seconds() // settings.HOSTPANEL_USAGE_ROTATE_SECONDS)
        return max(state.waiting_files, elapsed)
    return state.waiting_files


@dataclass(frozen=True)
class Backlog:
    frontend: str
    files: int  # backlog_files(): as last seen, or estimated while the front-end cannot be reached
    bytes: int  # as last seen
    collected_at: datetime.datetime | None
    error: str


def frontend_backlog(frontend: FrontEnd, now: datetime.datetime | None = None) -> Backlog | None:
    """One front-end's backlog (its page); None when usage logging is off there."""
    if not frontend.usage_log_dir:
        return None
    state = CollectionState.objects.filter(frontend=frontend).first() or CollectionState(frontend=frontend)
    return Backlog(
        frontend.name, backlog_files(state, now or timezone.now()), state.waiting_bytes, state.collected_at, state.error
    )


def usage_backlogs(now: datetime.datetime | None = None) -> list[Backlog]:
    """Each front-end with usage logging on and its backlog (for the front-end pages; two queries)."""
    now = now or timezone.now()
    states = {s.frontend_id: s for s in CollectionState.objects.all()}
    rows = []
    for frontend in FrontEnd.objects.filter(enabled=True).exclude(usage_log_dir="").order_by("name"):
        state = states.get(frontend.pk) or CollectionState(frontend=frontend)
        rows.append(
            Backlog(frontend.name, backlog_files(state, now), state.waiting_bytes, state.collected_at, state.error)
        )
    return rows
