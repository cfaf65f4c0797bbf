"""Live status from every front-end's balancer-manager, and live member changes through it.

The only module that speaks HTTP to balancer-manager (apache-facts.md §4). Three layers:

* **fetch** (`fetch_manager`, `fetch_all`): GET `<url>?xml=1` with the mandatory `Referer`, optional basic
  auth, a total deadline per host and a response size limit; many front-ends concurrently, so a page waits
  for the slowest host's timeout, never the sum. A host's failure becomes a `HostStatus` with a state
  (ok / down / timeout / refused / html / junk / unconfigured) and a human reason — nothing here raises to the caller.
* **parse** (`parse_manager_xml`, `nonces_from_html`): pure functions of bytes, hardened with defusedxml (no DTD,
  no entities), a size limit and a namespace check, into frozen dataclasses.
* **change** (`apply_member_change`): read the nonce, POST the form body with the Referer, and read the state back,
  because Apache answers 200 even when it ignored the request (wrong nonce, missing Referer).

`status_overview()` joins the database's intended state with the live state for the dashboard and the API.
"""

from __future__ import annotations

import base64
import datetime
import enum
import http.client
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from django.conf import settings

NAMESPACE = "http://httpd.apache.org"
_NS = "{" + NAMESPACE + "}"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # 5,000 vhosts share a handful of balancers: real answers are a few kB
USER_AGENT = "HostPanel status"


class HostState(enum.StrEnum):
    OK = "ok"
    DOWN = "down"  # connection reset, no route, DNS failure, HTTP error status (401, 403, 500 ...)
    TIMEOUT = "timeout"
    REFUSED = "refused"
    HTML = "html"  # Apache ignored our parameters (missing/foreign Referer: AH10187) and sent the HTML page
    JUNK = "junk"  # not a balancer-manager document (wrong namespace, malformed, hostile, oversized)
    UNCONFIGURED = "unconfigured"  # the front-end has no balancer_manager_url


class StatusError(Exception):
    """A failure of one host, with the state it puts the host in and a reason a person can act on."""

    def __init__(self, state: HostState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFlags:
    """The flags of a worker's status string, e.g. "Init Stby Ok " -> init, hot_standby, ok."""

    ok: bool = False
    error: bool = False
    init: bool = False
    hot_standby: bool = False
    drain: bool = False
    disabled: bool = False
    stopped: bool = False
    ignore_errors: bool = False
    hot_spare: bool = False
    health_check_failed: bool = False
    shutting_down: bool = False
    generic: bool = False
    free: bool = False
    unknown: tuple[str, ...] = ()

    TOKENS = {
        "Ok": "ok",
        "Err": "error",
        "Init": "init",
        "Stby": "hot_standby",
        "Drn": "drain",
        "Dis": "disabled",
        "Stop": "stopped",
        "Ign": "ignore_errors",
        "Spar": "hot_spare",
        "HcFl": "health_check_failed",
        "Shut": "shutting_down",
        "Gen": "generic",
        "Free": "free",
    }  # mod_proxy's wstat_tbl (proxy_util.c); "Ok" is printed when none of the unusable flags is set

    @classmethod
    def parse(cls, status: str) -> MemberFlags:
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for token in status.split():
            name = cls.TOKENS.get(token)
            if name:
                values[name] = True
            else:
                unknown.append(token)
        return cls(**values, unknown=tuple(unknown))

    @property
    def state(self) -> str:
        """One word for a badge, most severe first."""
        if self.stopped:
            return "stopped"
        if self.disabled:
            return "disabled"
        if self.error or self.health_check_failed:
            return "error"
        if self.drain:
            return "drain"
        if self.hot_standby:
            return "hot standby"
        if self.ok:
            return "ok"
        return "unknown"


@dataclass(frozen=True)
class MemberStatus:
    """One worker of a balancer as balancer-manager reports it."""

    url: str
    route: str
    lbset: int
    loadfactor: float
    status: str
    flags: MemberFlags
    elected: int
    busy: int
    load: int  # lbstatus: the lbmethod's running score
    transferred: int
    read: int
    error_time: str | None = None
    redirect: str = ""
    timeout: int | None = None
    retry: int | None = None


@dataclass(frozen=True)
class BalancerStatus:
    name: str  # "bronze" (balancer-manager's `b` parameter)
    sticky_cookie: str
    lbmethod: str
    nofailover: bool
    maxattempts: int | None
    timeout: int | None
    nonce: str
    members: tuple[MemberStatus, ...] = ()

    def member(self, url: str) -> MemberStatus | None:
        return next((m for m in self.members if m.url == url), None)


@dataclass
class HostStatus:
    """One front-end's answer (or failure) at one time."""

    frontend_id: int | None
    frontend_name: str
    url: str
    state: HostState
    reason: str = ""
    balancers: tuple[BalancerStatus, ...] = ()
    fetched_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == HostState.OK

    def balancer(self, name: str) -> BalancerStatus | None:
        return next((b for b in self.balancers if b.name == name), None)


# --- parsing (pure) ------------------------------------------------------------------------------


def _text(element: Element, name: str) -> str | None:
    child = element.find(_NS + name)
    if child is None:
        return None
    return (child.text or "").strip()


def _int(element: Element, name: str, default: int | None = 0) -> int | None:
    value = _text(element, name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise StatusError(HostState.JUNK, f"<{name}> is not a number: {value[:40]!r}") from None


def _float(element: Element, name: str) -> float:
    value = _text(element, name) or "0"
    try:
        return float(value)
    except ValueError:
        raise StatusError(HostState.JUNK, f"<{name}> is not a number: {value[:40]!r}") from None


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head


def parse_manager_xml(data: bytes, *, max_bytes: int | None = None) -> tuple[BalancerStatus, ...]:
    """Parse balancer-manager's `?xml=1` document. Raises StatusError(HTML or JUNK) on anything else:
    the HTML page, a DTD or entity (billion laughs, external entities), an oversized document, another
    namespace, or malformed XML."""
    max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
    if looks_like_html(data):
        raise StatusError(
            HostState.HTML,
            "balancer-manager sent its HTML page instead of XML: it ignored the request's parameters "
            "(a Referer whose host differs from the manager's server name, AH10187)",
        )
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise StatusError(HostState.JUNK, f"refused hostile XML ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise StatusError(HostState.JUNK, f"not XML: {str(exc)[:120]}") from None
    if root.tag != _NS + "manager":
        raise StatusError(HostState.JUNK, f"not a balancer-manager document (root element {root.tag[:80]!r})")
    balancers = []
    for element in root.iterfind(f"{_NS}balancers/{_NS}balancer"):
        full_name = _text(element, "name") or ""
        name = full_name.removeprefix("balancer://")
        if not name:
            raise StatusError(HostState.JUNK, "a balancer without a name")
        members = []
        for worker in element.iterfind(f"{_NS}workers/{_NS}worker"):
            status = _text(worker, "status") or ""
            members.append(
                MemberStatus(
                    url=_text(worker, "name") or "",
                    route=_text(worker, "route") or "",
                    lbset=_int(worker, "lbset") or 0,
                    loadfactor=_float(worker, "loadfactor"),
                    status=status,
                    flags=MemberFlags.parse(status),
                    elected=_int(worker, "elected") or 0,
                    busy=_int(worker, "busy") or 0,
                    load=_int(worker, "lbstatus") or 0,
                    transferred=_int(worker, "transferred") or 0,
                    read=_int(worker, "read") or 0,
                    error_time=_text(worker, "error_time") or None,
                    redirect=_text(worker, "redirect") or "",
                    timeout=_int(worker, "timeout", None),
                    retry=_int(worker, "retry", None),
                )
            )
        balancers.append(
            BalancerStatus(
                name=name,
                sticky_cookie=_text(element, "stickysession") or "",
                lbmethod=_text(element, "lbmethod") or "",
                nofailover=(_text(element, "nofailover") or "").lower() == "on",
                maxattempts=_int(element, "maxattempts", None),
                timeout=_int(element, "timeout", None),
                nonce=_text(element, "nonce") or "",
                members=tuple(members),
            )
        )
    return tuple(balancers)


_NONCE_LINK = re.compile(r"[?&](?:amp;)?b=([A-Za-z0-9_.-]+)&(?:amp;)?(?:w=[^&\"'\s]*&(?:amp;)?)?nonce=([0-9A-Za-z-]+)")


def nonces_from_html(text: str) -> dict[str, str]:
    """{balancer name: nonce} from the `nonce=` in the HTML page's links (builds whose XML has no nonce)."""
    found: dict[str, str] = {}
    for name, nonce in _NONCE_LINK.findall(text):
        found.setdefault(name, nonce)
    return found


# --- fetching ------------------------------------------------------------------------------------


def status_timeout() -> float:
    return float(getattr(settings, "HOSTPANEL_STATUS_TIMEOUT", 2.0))


@dataclass(frozen=True)
class ManagerEndpoint:
    """Where and how to reach one front-end's balancer-manager (a plain value, safe to hand to a thread)."""

    frontend_id: int | None
    frontend_name: str
    url: str
    username: str = ""
    password: str = ""

    @classmethod
    def of(cls, frontend: Any) -> ManagerEndpoint:
        return cls(
            frontend_id=frontend.pk,
            frontend_name=frontend.name,
            url=frontend.balancer_manager_url,
            username=frontend.manager_username,
            password=frontend.manager_password,
        )


def _request(
    endpoint: ManagerEndpoint,
    method: str,
    *,
    query: str = "",
    body: bytes | None = None,
    timeout: float,
    max_bytes: int | None = None,
) -> bytes:
    """One HTTP request to the manager within `timeout` seconds in total; raises StatusError."""
    max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    deadline = time.monotonic() + timeout
    parts = urllib.parse.urlsplit(endpoint.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StatusError(HostState.UNCONFIGURED, f"not an http(s) URL: {endpoint.url[:100]!r}")
    path = (parts.path or "/") + (f"?{query}" if query else "")
    headers = {"Referer": endpoint.url, "User-Agent": USER_AGENT, "Accept": "application/xml, text/xml, */*"}
    if endpoint.username or endpoint.password:
        token = base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.connect()

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            return left

        # every step gets only what is left of the one deadline (connect + send + headers + body)
        conn.sock.settimeout(remaining())
        conn.request(method, path, body=body, headers=headers)
        conn.sock.settimeout(remaining())
        response = conn.getresponse()
        if response.status != 200:
            hint = " (check the manager user name and password)" if response.status == 401 else ""
            raise StatusError(HostState.DOWN, f"HTTP {response.status} {response.reason}{hint}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            left = remaining()
            if conn.sock is not None:
                conn.sock.settimeout(left)
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except StatusError:
        raise
    except ConnectionRefusedError:
        raise StatusError(HostState.REFUSED, f"connection refused by {parts.netloc}") from None
    except TimeoutError:
        raise StatusError(HostState.TIMEOUT, f"no answer from {parts.netloc} within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise StatusError(HostState.DOWN, f"TLS error: {exc}") from None
    except socket.gaierror as exc:
        raise StatusError(HostState.DOWN, f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise StatusError(HostState.DOWN, f"{type(exc).__name__}: {exc}"[:200]) from None
    finally:
        conn.close()


def fetch_manager(endpoint: ManagerEndpoint, *, timeout: float | None = None) -> HostStatus:
    """The parsed state of one front-end, or its failure; never raises."""
    timeout = status_timeout() if timeout is None else timeout
    started = time.monotonic()
    result = HostStatus(endpoint.frontend_id, endpoint.frontend_name, endpoint.url, HostState.OK)
    try:
        if not endpoint.url:
            raise StatusError(HostState.UNCONFIGURED, "no balancer-manager URL is set for this front-end")
        data = _request(endpoint, "GET", query="xml=1", timeout=timeout)
        result.balancers = parse_manager_xml(data)
        if any(not b.nonce for b in result.balancers):
            result.balancers = _with_html_nonces(endpoint, result.balancers, deadline=started + timeout)
    except StatusError as exc:
        result.state, result.reason = exc.state, exc.reason
    except Exception as exc:  # noqa: BLE001 - a dashboard must show the host, not crash
        result.state, result.reason = HostState.JUNK, f"unexpected {type(exc).__name__}: {exc}"[:200]
    result.duration = time.monotonic() - started
    return result


def _with_html_nonces(
    endpoint: ManagerEndpoint, balancers: tuple[BalancerStatus, ...], *, deadline: float
) -> tuple[BalancerStatus, ...]:
    """Older 2.4 builds have no <httpd:nonce>: take it from the HTML page's links."""
    remaining = max(deadline - time.monotonic(), 0.1)
    html = _request(endpoint, "GET", timeout=remaining).decode("utf-8", "replace")
    nonces = nonces_from_html(html)
    return tuple(b if b.nonce else _replace(b, nonce=nonces.get(b.name, "")) for b in balancers)


def _replace(balancer: BalancerStatus, **changes: Any) -> BalancerStatus:
    from dataclasses import replace  # noqa: PLC0415

    return replace(balancer, **changes)


def fetch_all(endpoints: Sequence[ManagerEndpoint], *, timeout: float | None = None) -> list[HostStatus]:
    """All front-ends concurrently, in the given order. The whole call takes about the slowest host's
    timeout: a thread that overruns its own deadline is reported as a timeout and abandoned."""
    timeout = status_timeout() if timeout is None else timeout
    if not endpoints:
        return []
    results: list[HostStatus | None] = [None] * len(endpoints)

    def run(index: int, endpoint: ManagerEndpoint) -> None:
        results[index] = fetch_manager(endpoint, timeout=timeout)

    threads = [
        threading.Thread(target=run, args=(i, e), name=f"status-{e.frontend_name}", daemon=True)
        for i, e in enumerate(endpoints)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5  # each host's fetch (+ HTML nonce fallback) keeps to one timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return [
        r
        if r is not None
        else HostStatus(e.frontend_id, e.frontend_name, e.url, HostState.TIMEOUT, f"no answer within {timeout:g} s")
        for r, e in zip(results, endpoints, strict=True)
    ]


def enabled_endpoints() -> list[ManagerEndpoint]:
    from balancers.models import FrontEnd  # noqa: PLC0415

    return [ManagerEndpoint.of(f) for f in FrontEnd.objects.filter(enabled=True).order_by("name")]


# --- live changes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberChange:
    """Flags to set on a worker; None leaves a flag as it is."""

    hot_standby: bool | None = None
    drain: bool | None = None
    disabled: bool | None = None
    loadfactor: int | None = None
    lbset: int | None = None

    def form(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for flag, value in (("H", self.hot_standby), ("N", self.drain), ("D", self.disabled)):
            if value is not None:
                fields[f"w_status_{flag}"] = "1" if value else "0"
        if self.loadfactor is not None:
            fields["w_lf"] = str(self.loadfactor)
        if self.lbset is not None:
            fields["w_ls"] = str(self.lbset)
        return fields

    def mismatches(self, member: MemberStatus) -> list[str]:
        """What the live worker does not (yet) show of this change."""
        wrong = []
        for name in ("hot_standby", "drain", "disabled"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(member.flags, name) != wanted:
                wrong.append(f"{name.replace('_', ' ')} is {'on' if not wanted else 'off'}")
        if self.loadfactor is not None and abs(member.loadfactor - self.loadfactor) > 0.001:
            wrong.append(f"loadfactor is {member.loadfactor:g}")
        if self.lbset is not None and member.lbset != self.lbset:
            wrong.append(f"lbset is {member.lbset}")
        return wrong


@dataclass(frozen=True)
class ApplyResult:
    """One front-end's outcome of a live change."""

    frontend_id: int | None
    frontend_name: str
    applied: bool
    reason: str = ""
    live_status: str = ""
    worker_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    # the names the panel's generic result list reads (hostpanel.templatetags.panel.result_items)
    @property
    def name(self) -> str:
        return self.frontend_name

    @property
    def ok(self) -> bool:
        return self.applied

    @property
    def detail(self) -> str:
        return f"{self.reason} ({self.live_status})" if self.applied and self.live_status else self.reason


def find_worker(balancer: BalancerStatus, *, urls: Iterable[str], route: str) -> MemberStatus | None:
    """A member's worker on a front-end: by URL first, then by route (routes are unique per balancer)."""
    candidates = [u.rstrip("/") for u in urls]
    for member in balancer.members:
        if member.url.rstrip("/") in candidates:
            return member
    if route:
        for member in balancer.members:
            if member.route == route:
                return member
    return None


def apply_member_change(
    endpoint: ManagerEndpoint,
    *,
    balancer: str,
    worker_urls: Sequence[str],
    route: str,
    change: MemberChange,
    timeout: float | None = None,
    attempts: int = 2,
) -> ApplyResult:
    """Read the nonce, POST the change, read it back. A second attempt covers a graceful reload that
    changed the nonce in between. Never raises."""
    timeout = status_timeout() if timeout is None else timeout

    def failed(reason: str, worker: MemberStatus | None = None) -> ApplyResult:
        return ApplyResult(
            endpoint.frontend_id,
            endpoint.frontend_name,
            False,
            reason,
            worker.status.strip() if worker else "",
            worker.url if worker else "",
        )

    reason = ""
    worker: MemberStatus | None = None
    for _attempt in range(attempts):
        host = fetch_manager(endpoint, timeout=timeout)
        if not host.ok:
            return failed(f"{host.state}: {host.reason}")
        live = host.balancer(balancer)
        if live is None:
            return failed(f"balancer {balancer!r} is not on this front-end (not deployed yet?)")
        worker = find_worker(live, urls=worker_urls, route=route)
        if worker is None:
            return failed(f"member {route or worker_urls[0]!r} is not in balancer {balancer!r} on this front-end")
        if not live.nonce:
            return failed("no nonce in the XML nor in the HTML page")
        body = urllib.parse.urlencode({"b": balancer, "w": worker.url, "nonce": live.nonce, **change.form()})
        try:
            _request(endpoint, "POST", body=body.encode(), timeout=timeout)
        except StatusError as exc:
            return failed(f"{exc.state}: {exc.reason}", worker)
        check = fetch_manager(endpoint, timeout=timeout)
        if not check.ok:
            return failed(f"sent, but the read-back failed: {check.state}: {check.reason}", worker)
        after_balancer = check.balancer(balancer)
        after = find_worker(after_balancer, urls=[worker.url], route=route) if after_balancer else None
        if after is None:
            return failed("the member vanished while it was being changed", worker)
        wrong = change.mismatches(after)
        if not wrong:
            return ApplyResult(
                endpoint.frontend_id, endpoint.frontend_name, True, "applied", after.status.strip(), after.url
            )
        worker = after
        reason = "Apache answered but ignored the change (" + ", ".join(wrong) + ")"
    return failed(reason, worker)


def apply_member_change_all(
    endpoints: Sequence[ManagerEndpoint],
    *,
    balancer: str,
    worker_urls_by_frontend: dict[int | None, list[str]],
    route: str,
    change: MemberChange,
    timeout: float | None = None,
) -> list[ApplyResult]:
    """apply_member_change on every front-end concurrently; bounded by the slowest host."""
    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(len(endpoints), 16), thread_name_prefix="bm-apply") as pool:
        futures = [
            pool.submit(
                apply_member_change,
                e,
                balancer=balancer,
                worker_urls=worker_urls_by_frontend.get(e.frontend_id, []),
                route=route,
                change=change,
                timeout=timeout,
            )
            for e in endpoints
        ]
        return [f.result() for f in futures]


# --- the aggregated view (dashboard page and GET /api/v1/status/) --------------------------------

SPARKLINE_MINUTES = 60


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _live_member_dict(worker: MemberStatus) -> dict[str, Any]:
    return {
        "state": worker.flags.state,
        "status": worker.status.strip(),
        "url": worker.url,
        "hot_standby": worker.flags.hot_standby,
        "drain": worker.flags.drain,
        "disabled": worker.flags.disabled,
        "stopped": worker.flags.stopped,
        "error": worker.flags.error,
        "loadfactor": worker.loadfactor,
        "lbset": worker.lbset,
        "elected": worker.elected,
        "busy": worker.busy,
        "load": worker.load,
        "transferred": worker.transferred,
        "read": worker.read,
        "error_time": worker.error_time,
    }


def _drift(intended: dict[str, Any], live: dict[str, dict[str, Any]], hosts: list[HostStatus]) -> list[str]:
    """Human sentences for every way the live workers differ from the database or from each other."""
    problems: list[str] = []
    seen: dict[str, tuple] = {}
    for host in hosts:
        if not host.ok:
            continue
        worker = live.get(host.frontend_name)
        if worker is None or worker["state"] == "missing":
            problems.append(f"{host.frontend_name}: not in this balancer (not deployed yet?)")
            continue
        for flag, words in (("hot_standby", "hot standby"), ("drain", "drain"), ("disabled", "disabled")):
            if worker[flag] != intended[flag]:
                panel, actual = ("on", "off") if intended[flag] else ("off", "on")
                problems.append(f"{host.frontend_name}: {words} is {panel} in the panel but {actual} live")
        if abs(worker["loadfactor"] - intended["loadfactor"]) > 0.001:
            problems.append(
                f"{host.frontend_name}: loadfactor {intended['loadfactor']} in the panel, {worker['loadfactor']:g} live"
            )
        seen[host.frontend_name] = (worker["hot_standby"], worker["drain"], worker["disabled"], worker["loadfactor"])
    if len(set(seen.values())) > 1:
        problems.append("front-ends disagree: " + ", ".join(f"{name} {live[name]['status']}" for name in seen))
    return problems


def _sparklines(
    samples: Iterable[tuple[int, str, str, str, datetime.datetime, int, int, int]],
    member_key: dict[tuple[str, str], int],
    route_key: dict[tuple[str, str], int],
    *,
    now: datetime.datetime,
    buckets: int,
    minutes: int,
) -> dict[int, dict[str, list[int]]]:
    """Per member id: requests elected and bytes moved per time bucket, summed over front-ends. Apache's
    counters are cumulative since its last restart, so each bucket holds the delta to the previous sample
    (a counter that went down was reset by a restart: its new value is the delta)."""
    start = now - datetime.timedelta(minutes=minutes)
    width = minutes * 60 / buckets
    series: dict[int, dict[str, list[int]]] = {}
    previous: dict[tuple[int, str, str], tuple[int, int]] = {}
    for frontend_id, balancer, url, route, taken_at, elected, transferred, read in samples:
        member_id = member_key.get((balancer, url)) or (route_key.get((balancer, route)) if route else None)
        if member_id is None:
            continue
        traffic = transferred + read
        key = (frontend_id, balancer, url)
        before = previous.get(key)
        previous[key] = (elected, traffic)
        if before is None:
            continue
        d_elected = elected - before[0] if elected >= before[0] else elected
        d_traffic = traffic - before[1] if traffic >= before[1] else traffic
        index = min(int((taken_at - start).total_seconds() // width), buckets - 1)
        if index < 0:
            continue
        line = series.setdefault(member_id, {"elected": [0] * buckets, "traffic": [0] * buckets})
        line["elected"][index] += d_elected
        line["traffic"][index] += d_traffic
    return series


def status_overview(*, hosts: list[HostStatus] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Intended (database) and live (every enabled front-end's balancer-manager) state of every balancer,
    with drift, the last deployment and an hour of history. JSON-safe; a fixed number of SQL queries
    whatever the number of sites, balancers, members or front-ends."""
    from django.db.models import Prefetch  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from balancers.choices import RenderMode  # noqa: PLC0415
    from balancers.models import Balancer, BalancerMember, Deployment, FrontEnd, StatusSample, ZopeServer  # noqa: PLC0415

    frontends = list(FrontEnd.objects.filter(enabled=True).order_by("name"))
    if hosts is None:
        hosts = fetch_all([ManagerEndpoint.of(f) for f in frontends], timeout=timeout)
    now = timezone.now()
    balancers = list(
        Balancer.objects.order_by("name").prefetch_related(
            Prefetch(
                "members",
                queryset=BalancerMember.objects.select_related("zope_server").order_by("lbset", "zope_server__name"),
            )
        )
    )
    server_names = list(ZopeServer.objects.order_by("name").values_list("name", flat=True))
    node_index = {name: i for i, name in enumerate(server_names)}
    deployment = Deployment.objects.order_by("-created_at", "-id").prefetch_related("hosts").first()
    buckets = max(SPARKLINE_MINUTES * 60 // max(getattr(settings, "HOSTPANEL_STATUS_POLL_SECONDS", 30), 1), 2)
    buckets = min(buckets, 120)
    samples = (
        StatusSample.objects.filter(taken_at__gte=now - datetime.timedelta(minutes=SPARKLINE_MINUTES + 1))
        .order_by("taken_at", "id")
        .values_list("frontend_id", "balancer", "member_url", "route", "taken_at", "elected", "transferred", "read")
    )

    member_key: dict[tuple[str, str], int] = {}
    route_key: dict[tuple[str, str], int] = {}
    for balancer in balancers:
        for member in balancer.members.all():
            member_key[(balancer.name, member.zope_server.url)] = member.pk
            route_key[(balancer.name, member.zope_server.name)] = member.pk
            if balancer.render_mode == RenderMode.NODE_VHOSTS:
                for f in frontends:
                    member_key[(balancer.name, node_member_url(f, node_index[member.zope_server.name]))] = member.pk
    history = _sparklines(
        samples.iterator(), member_key, route_key, now=now, buckets=buckets, minutes=SPARKLINE_MINUTES
    )

    out_balancers = []
    for balancer in balancers:
        live_by_host = {h.frontend_name: h.balancer(balancer.name) for h in hosts if h.ok}
        members_out = []
        matched: dict[str, set[str]] = {name: set() for name in live_by_host}
        for member in balancer.members.all():
            intended = {
                "hot_standby": member.hot_standby,
                "drain": member.drain,
                "disabled": member.disabled,
                "loadfactor": member.loadfactor,
                "state": member.state,
            }
            live: dict[str, dict[str, Any]] = {}
            for host in hosts:
                if not host.ok:
                    # the host's own state (refused, timeout ...): the member's live state is unknown
                    live[host.frontend_name] = {"state": str(host.state), "status": host.reason, "host_down": True}
                    continue
                live_balancer = live_by_host[host.frontend_name]
                urls = [member.zope_server.url]
                frontend = next((f for f in frontends if f.pk == host.frontend_id), None)
                if balancer.render_mode == RenderMode.NODE_VHOSTS and frontend is not None:
                    urls.append(node_member_url(frontend, node_index[member.zope_server.name]))
                worker = find_worker(live_balancer, urls=urls, route=member.zope_server.name) if live_balancer else None
                if worker is None:
                    live[host.frontend_name] = {"state": "missing", "status": "not on this front-end"}
                else:
                    matched[host.frontend_name].add(worker.url)
                    live[host.frontend_name] = _live_member_dict(worker)
            drift = _drift(intended, live, hosts)
            line = history.get(member.pk, {"elected": [0] * buckets, "traffic": [0] * buckets})
            members_out.append(
                {
                    "id": member.pk,
                    "route": member.zope_server.name,
                    "zope_server": member.zope_server.name,
                    "url": member.zope_server.url,
                    "lbset": member.lbset,
                    "intended": intended,
                    "live": live,
                    "in_sync": not drift,
                    "drift": drift,
                    "history": line,
                }
            )
        unknown = [
            {"frontend": name, "url": w.url, "route": w.route, "status": w.status.strip()}
            for name, live_balancer in live_by_host.items()
            if live_balancer
            for w in live_balancer.members
            if w.url not in matched[name]
        ]
        out_balancers.append(
            {
                "id": balancer.pk,
                "name": balancer.name,
                "lbmethod": balancer.lbmethod,
                "sticky_cookie": balancer.sticky_cookie,
                "members": members_out,
                "unknown_live_members": unknown,
                "missing_on": [name for name, b in live_by_host.items() if b is None],
            }
        )
    return {
        "generated_at": now.isoformat(),
        "timeout": status_timeout() if timeout is None else timeout,
        "history_minutes": SPARKLINE_MINUTES,
        "frontends": [
            {
                "id": h.frontend_id,
                "name": h.frontend_name,
                "url": h.url,
                "state": str(h.state),
                "reason": h.reason,
                "duration": round(h.duration, 3),
                "fetched_at": _iso(h.fetched_at),
            }
            for h in hosts
        ],
        "last_deployment": _deployment_dict(deployment),
        "balancers": out_balancers,
    }


def node_member_url(frontend: Any, index: int) -> str:
    """A node-vhosts member's worker URL on a front-end (as balancers.render writes it)."""
    host = f"[{frontend.node_address}]" if ":" in frontend.node_address else frontend.node_address
    return f"http://{host}:{frontend.node_port_base + index}"


def _deployment_dict(deployment: Any) -> dict[str, Any] | None:
    if deployment is None:
        return None
    return {
        "id": deployment.pk,
        "status": deployment.status,
        "trigger": deployment.trigger,
        "actor": deployment.actor,
        "revision": deployment.revision,
        "created_at": _iso(deployment.created_at),
        "finished_at": _iso(deployment.finished_at),
        "hosts": [
            {"frontend": h.frontend_name, "status": h.status, "stage": h.stage, "error": h.error[:300]}
            for h in deployment.hosts.all()
        ],
    }
