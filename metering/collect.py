"""Collecting the front-ends' usage logs, exactly once (issue #29, README "Traffic metering").

Every front-end with a `usage_log_dir` logs each request of a client site (rendering/templates/apache/
hostpanel.conf.j2) through rotatelogs into `usage.YYYYmmddHHMMSS.log`, a new file every
HOSTPANEL_USAGE_ROTATE_SECONDS (UTC, also when idle). One line per request:

    <request start, epoch s> <host name as routed> <bytes in> <bytes out> <status> <"1": no site claims it | ->

`collect_usage()` goes over every such front-end (one failing never stops the others) and, over the transport:

1. lists the directory; every file but the newest is CLOSED (rotatelogs has moved on to a newer one);
2. a closed file already recorded in CollectedFile (counted, its removal interrupted) is only removed;
3. any other closed file is read through once and summed per site per UTC hour (the hour of each line's own
   time stamp); then ONE transaction records its CollectedFile row (unique per front-end and name: a second
   or concurrent run fails there and rolls its increments back) and adds its sums to UsageHour with one
   upsert (`requests = requests + new`), whatever the number of lines or sites;
4. only after the commit the file is removed from the front-end and the row marked removed_at.

A crash between 3 and 4 leaves a counted file on the front-end: step 2 removes it next time, uncounted. Host
names are resolved to sites the way the routing map was built, from SiteHostname (a site's domain and its
aliases, one query per run): a request the routing rules answered 404 (flag "1") counts for no site, and so
does a name no site holds any longer. Lines that do not parse are counted in CollectedFile.bad_lines.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from balancers.models import FrontEnd
from deploy.transport.pool import open_transport
from deploy.transport.protocol import Transport, TransportError
from metering.models import CollectedFile, CollectionState
from metering.services import usage_counted
from sites.models import SiteHostname

log = logging.getLogger(__name__)

LOG_NAME_RE = re.compile(r"usage\.[0-9]{14}\.log")  # rotatelogs' name pattern in hostpanel.conf.j2
COUNTERS = ("requests", "bytes_in", "bytes_out", "status_2xx", "status_3xx", "status_4xx", "status_5xx")
_STATUS_INDEX = {b"2": 3, b"3": 4, b"4": 5, b"5": 6}


@dataclass
class FileCount:
    """One usage-log file read through: its sums per (site, UTC hour start) and what it held."""

    usage: dict[tuple[int, datetime.datetime], list[int]] = field(default_factory=dict)
    size: int = 0
    sha256: str = ""
    lines: int = 0
    unknown_lines: int = 0
    bad_lines: int = 0


def count_lines(chunks: Iterable[bytes], sites_by_name: Mapping[str, int]) -> FileCount:
    """Sum a usage log (as chunks of bytes) per site per hour. Pure: no I/O."""
    digest = hashlib.sha256()
    by_host: dict[tuple[bytes, int], list[int]] = {}
    count = FileCount()
    rest = b""
    for chunk in chunks:
        digest.update(chunk)
        count.size += len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        _add(lines, by_host, count)
    if rest:
        _add([rest], by_host, count)  # a closed file's last line without its newline
    count.sha256 = digest.hexdigest()
    for (host, hour), sums in by_host.items():
        site_id = sites_by_name.get(host.decode("ascii", "replace"))
        if site_id is None:
            count.unknown_lines += sums[0]
            continue
        start = datetime.datetime.fromtimestamp(hour * 3600, datetime.UTC)
        total = count.usage.setdefault((site_id, start), [0] * len(COUNTERS))
        for index, value in enumerate(sums):
            total[index] += value
    return count


def _add(lines: list[bytes], by_host: dict[tuple[bytes, int], list[int]], count: FileCount) -> None:
    for line in lines:
        if not line:
            continue
        count.lines += 1
        parts = line.split(b" ")
        try:
            seconds, host, received, sent, status, unknown = parts
            hour = int(seconds) // 3600
            bytes_in = 0 if received == b"-" else int(received)
            bytes_out = 0 if sent == b"-" else int(sent)
            if len(status) != 3 or not status.isdigit() or not host:
                raise ValueError(status)
        except ValueError:
            count.bad_lines += 1
            continue
        if unknown == b"1":
            count.unknown_lines += 1
            continue
        sums = by_host.get((host, hour))
        if sums is None:
            sums = by_host[(host, hour)] = [0] * len(COUNTERS)
        sums[0] += 1
        sums[1] += bytes_in
        sums[2] += bytes_out
        index = _STATUS_INDEX.get(status[:1])
        if index is not None:
            sums[index] += 1


# --- the database side: one transaction per file -------------------------------------------------------


def record_file(frontend: FrontEnd, name: str, count: FileCount, *, now: datetime.datetime) -> bool:
    """Count one file: its CollectedFile row and its UsageHour increments in ONE transaction (two queries
    whatever the number of lines or sites). False when it was counted already (by an earlier or a concurrent
    run): nothing is added then."""
    try:
        with transaction.atomic():
            # first the row: a concurrent run counting the same file waits here, then fails, before adding anything
            CollectedFile.objects.create(
                frontend=frontend,
                name=name,
                size=count.size,
                sha256=count.sha256,
                lines=count.lines,
                unknown_lines=count.unknown_lines,
                bad_lines=count.bad_lines,
                counted_at=now,
            )
            if count.usage:
                _add_usage(count.usage)
    except IntegrityError:
        if CollectedFile.objects.filter(frontend=frontend, name=name).exists():
            return False
        raise  # something else (a site deleted meanwhile): nothing was counted, the next run tries again
    if count.usage:  # committed: the quotas of the sites it counted (never raises into the collection)
        usage_counted({site_id for site_id, _ in count.usage}, {hour for _, hour in count.usage})
    return True


def _add_usage(usage: Mapping[tuple[int, datetime.datetime], list[int]]) -> None:
    """UsageHour += usage, in one statement: the rows travel as one JSON parameter (no limit on the number
    of rows per statement, unlike VALUES lists) and ON CONFLICT adds to an existing (site, hour) row."""
    table = "metering_usagehour"
    columns = ", ".join(COUNTERS)
    increments = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COUNTERS)
    if connection.vendor == "postgresql":
        rows = [[site_id, hour.isoformat(), *sums] for (site_id, hour), sums in usage.items()]
        picked = ", ".join(f"(r->>{i + 2})::bigint" for i in range(len(COUNTERS)))
        source = f"SELECT (r->>0)::bigint, (r->>1)::timestamptz, {picked} FROM json_array_elements(%s::json) AS r"  # noqa: S608
    elif connection.vendor == "sqlite":
        # the text Django stores a DateTimeField as on SQLite, so the unique (site, hour) index matches
        adapt = connection.ops.adapt_datetimefield_value
        rows = [[site_id, adapt(hour), *sums] for (site_id, hour), sums in usage.items()]
        picked = ", ".join(f"json_extract(value, '$[{i + 2}]')" for i in range(len(COUNTERS)))
        source = (
            f"SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), {picked} FROM json_each(%s) WHERE true"  # noqa: S608, E501
        )
    else:  # pragma: no cover - HostPanel runs on SQLite or PostgreSQL
        raise NotImplementedError(f"usage upsert for {connection.vendor}")
    # fixed names only; the data is the one parameter
    sql = f"INSERT INTO {table} (site_id, hour, {columns}) {source} ON CONFLICT (site_id, hour) DO UPDATE SET {increments}"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])


# --- one front-end ------------------------------------------------------------------------------------


@dataclass
class FrontEndResult:
    frontend: str
    counted: int = 0  # files counted in this run
    removed_only: int = 0  # files counted before whose removal had not happened
    waiting: int = 0  # closed files still on the front-end after this run
    waiting_bytes: int = 0
    lines: int = 0
    error: str = ""


@dataclass
class CollectResult:
    frontends: list[FrontEndResult] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return sum(r.counted for r in self.frontends)

    @property
    def failures(self) -> list[str]:
        return [f"{r.frontend}: {r.error}" for r in self.frontends if r.error]


def closed_files(listing: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The usage-log files of a directory listing that rotatelogs has closed: all but the newest (by name,
    which is the start of its interval)."""
    logs = sorted((name, size) for name, size in listing if LOG_NAME_RE.fullmatch(name))
    return logs[:-1]


def collect_frontend(
    frontend: FrontEnd,
    sites_by_name: Mapping[str, int],
    *,
    transport_factory: Callable[[FrontEnd], Transport] = open_transport,
) -> FrontEndResult:
    """Collect one front-end's closed files (see the module docstring). A front-end that cannot be reached
    or read comes back with `error` set (and what waits there, when it was listed); what was committed
    before the failure stays counted."""
    result = FrontEndResult(frontend.name)
    directory = frontend.usage_log_dir.rstrip("/")
    try:
        transport = transport_factory(frontend)
    except TransportError as exc:
        result.error = str(exc)
        return result
    closed: list[tuple[str, int]] = []
    done = 0  # closed files dealt with (counted or found counted, and removed)
    try:
        closed = closed_files(transport.list_files(directory))
        counted: set[str] = set()
        if closed:
            rows = CollectedFile.objects.filter(frontend=frontend, name__gte=closed[0][0], name__lte=closed[-1][0])
            counted = set(rows.values_list("name", flat=True))
        for name, _size in closed:
            path = f"{directory}/{name}"
            if name in counted:
                result.removed_only += 1
            else:
                count = count_lines(transport.stream_file(path), sites_by_name)
                if record_file(frontend, name, count, now=timezone.now()):
                    result.counted += 1
                    result.lines += count.lines
                else:
                    result.removed_only += 1
            _remove(transport, path)
            CollectedFile.objects.filter(frontend=frontend, name=name, removed_at__isnull=True).update(
                removed_at=timezone.now()
            )
            done += 1
    except TransportError as exc:
        result.error = str(exc)
        rest = closed[done:]
        result.waiting, result.waiting_bytes = len(rest), sum(size for _, size in rest)
    finally:
        transport.close()
    return result


def _remove(transport: Transport, path: str) -> None:
    """Remove a counted file from the front-end (a seam the tests break to simulate a crash here)."""
    transport.remove_file(path)


# --- every front-end ----------------------------------------------------------------------------------


def usage_frontends() -> list[FrontEnd]:
    """The enabled front-ends with usage logging on."""
    return list(FrontEnd.objects.filter(enabled=True).exclude(usage_log_dir="").order_by("name"))


def sites_by_hostname() -> dict[str, int]:
    """{host name: site id} of every site's domain and aliases: what the routing map is built from (one query)."""
    return dict(SiteHostname.objects.values_list("name", "site_id"))


def collect_usage(
    *, frontends: list[FrontEnd] | None = None, transport_factory: Callable[[FrontEnd], Transport] = open_transport
) -> CollectResult:
    """Collect every front-end with usage logging on (the periodic job: metering.tasks, manage.py
    collect_usage). A front-end that fails is reported, its state row says why, and the others go on."""
    result = CollectResult()
    names = sites_by_hostname()
    for frontend in usage_frontends() if frontends is None else frontends:
        started = timezone.now()
        try:
            outcome = collect_frontend(frontend, names, transport_factory=transport_factory)
        except Exception as exc:  # noqa: BLE001 - one front-end never stops the others
            outcome = FrontEndResult(frontend.name, error=f"{type(exc).__name__}: {exc}")
        if outcome.error:
            outcome.error = outcome.error[:2000]
            log.warning("usage collection of %s failed: %s", frontend.name, outcome.error)
        _save_state(frontend, outcome, started)
        result.frontends.append(outcome)
    return result


def _save_state(frontend: FrontEnd, outcome: FrontEndResult, now: datetime.datetime) -> None:
    state, _ = CollectionState.objects.get_or_create(frontend=frontend)
    state.checked_at = now
    if not outcome.error:
        state.collected_at, state.failing_since, state.error = now, None, ""
        state.waiting_files, state.waiting_bytes = 0, 0
    else:
        state.failing_since = state.failing_since or now
        state.error = outcome.error
        if outcome.waiting:  # seen this time (a removal failed); otherwise the last count stands
            state.waiting_files, state.waiting_bytes = outcome.waiting, outcome.waiting_bytes
    state.save()
