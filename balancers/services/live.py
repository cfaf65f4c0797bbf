"""The on-demand read of every front-end ("refresh now" on the dashboard, GET /api/v1/status/?live=1):
ask each balancer-manager now and keep the answers as the front-ends' latest snapshots, which every
later dashboard refresh reads instead of asking again (status.poller does the same on its
schedule)."""

from __future__ import annotations

from status.parse import FrontEndLive
from status.poller import refresh_snapshots


def status_refresh(*, timeout: float | None = None) -> list[FrontEndLive]:
    """Every enabled front-end's answer now (bounded by one timeout), stored as its latest snapshot."""
    return refresh_snapshots(timeout=timeout)
