"""Pure parsing of mod_status's machine-readable page (`/server-status?auto`): bytes in, a frozen record out
(no I/O). The HTTP side is status.manager (`fetch_workers`), the storing side status.poller (WorkerSample).

What a front-end's Apache says about its workers (frontend-facts.md, "mod_status ?auto"): BusyWorkers,
IdleWorkers, GracefulWorkers (2.4.58+; counted from the Scoreboard's 'G' otherwise), the Scoreboard (one
character per slot: ServerLimit x ThreadsPerChild), ConnsTotal / ConnsAsyncKeepAlive / ConnsAsyncClosing
(event MPM), and with ExtendedStatus On the Total Accesses counter that requests/s is computed from.
"""

from __future__ import annotations

import datetime
import urllib.parse
from dataclasses import dataclass, field

from status.parse import HostState, StatusError, looks_like_html

MAX_STATUS_BYTES = 256 * 1024  # a 2.4 ?auto page is a few kB (the scoreboard: one byte per slot)
REQUIRED = ("BusyWorkers", "IdleWorkers")  # printed by every 2.4 ?auto page, ExtendedStatus or not


@dataclass(frozen=True)
class WorkerFigures:
    """One ?auto page, as numbers."""

    busy: int
    idle: int
    graceful: int
    slots: int  # length of the scoreboard
    connections: int = 0
    keepalive: int = 0
    closing: int = 0
    total_accesses: int | None = None  # None: ExtendedStatus Off
    mpm: str = ""
    uptime: int | None = None  # seconds since the last (re)start


@dataclass
class WorkerRead:
    """One front-end's mod_status answer (or failure) at one time: state and reason like FrontEndLive's."""

    frontend_id: int | None
    frontend_name: str
    url: str
    state: HostState
    reason: str = ""
    figures: WorkerFigures | None = None
    fetched_at: datetime.datetime | None = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == HostState.OK and self.figures is not None


def status_url_for(manager_url: str, status_url: str = "") -> str:
    """Where a front-end's mod_status is read: its own status_url, or the balancer-manager URL's origin
    with /server-status?auto ("" when neither is an http(s) URL)."""
    if status_url:
        return status_url
    parts = urllib.parse.urlsplit(manager_url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/server-status", "auto", ""))


def with_auto(url: str) -> str:
    """The URL asking for the machine-readable page: `auto` added to its query when missing."""
    parts = urllib.parse.urlsplit(url)
    query = parts.query
    if "auto" not in query.split("&"):
        query = f"{query}&auto" if query else "auto"
    return urllib.parse.urlunsplit(parts._replace(query=query, fragment=""))


def _number(fields: dict[str, str], name: str, default: int | None = 0) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        return int(float(value))  # "Total Accesses" is an integer; Load1 style floats are never asked for
    except ValueError:
        raise StatusError(HostState.JUNK, f"{name} is not a number: {value[:40]!r}") from None


def parse_server_status(data: bytes, *, max_bytes: int = MAX_STATUS_BYTES) -> WorkerFigures:
    """Parse a `?auto` page. Raises StatusError: HTML (the human page: `?auto` was dropped, or a login or
    error page answered) or JUNK (anything that is not a mod_status page, a non-number, an oversized answer)."""
    if len(data) > max_bytes:
        raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
    if looks_like_html(data):
        raise StatusError(
            HostState.HTML,
            "mod_status sent an HTML page instead of the ?auto form (is the URL the server-status handler, "
            "with ?auto? a login or error page?)",
        )
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise StatusError(HostState.JUNK, "not a mod_status page (not ASCII text)") from None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields.setdefault(name.strip(), value.strip())
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise StatusError(HostState.JUNK, f"not a mod_status ?auto page (no {', '.join(missing)})")
    scoreboard = fields.get("Scoreboard", "")
    graceful = _number(fields, "GracefulWorkers", None)
    return WorkerFigures(
        busy=_number(fields, "BusyWorkers") or 0,
        idle=_number(fields, "IdleWorkers") or 0,
        graceful=scoreboard.count("G") if graceful is None else graceful,
        slots=len(scoreboard),
        connections=_number(fields, "ConnsTotal") or 0,
        keepalive=_number(fields, "ConnsAsyncKeepAlive") or 0,
        closing=_number(fields, "ConnsAsyncClosing") or 0,
        total_accesses=_number(fields, "Total Accesses", None),
        mpm=fields.get("ServerMPM", "")[:20],
        uptime=_number(fields, "ServerUptimeSeconds", None),
    )


def requests_per_second(
    previous_total: int | None,
    previous_at: datetime.datetime | None,
    total: int | None,
    at: datetime.datetime,
) -> float | None:
    """Requests/s between two samples' Total Accesses; None when either is unknown, no time passed, or the
    counter went down (Apache restarted in between: the delta is not known)."""
    if previous_total is None or previous_at is None or total is None or total < previous_total:
        return None
    seconds = (at - previous_at).total_seconds()
    if seconds <= 0:
        return None
    return round((total - previous_total) / seconds, 2)
