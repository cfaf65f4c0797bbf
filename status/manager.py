"""Balancer-manager reads and live member changes, over the one HTTP client (hostpanel.http)
(apache-facts.md §4).

* **fetch** (`fetch_manager`, `fetch_all`): GET `<url>?xml=1` with the mandatory `Referer`, optional basic
  auth, a total deadline per host and a response size limit; many front-ends concurrently, so a page waits
  for the slowest host's timeout, never the sum. A host's failure becomes a `FrontEndLive` with a state
  (ok / down / timeout / refused / html / junk / unconfigured) and a human reason — nothing here raises.
* **mod_status** (`fetch_workers`, and `fetch_round`: the manager and mod_status of every front-end at once,
  all by one deadline): GET the front-end's status URL (`?auto`) with the same login; failures become a
  `WorkerRead` with the same states and reasons.
* **change** (`apply_member_change`): read the nonce, POST the form body with the Referer, and read the state
  back, because Apache answers 200 even when it ignored the request (wrong nonce, missing Referer).

Every request has one wall-clock deadline (connect, TLS handshake, send, status line, headers and body
together): each wait on the socket gets only what is left of it, so a peer that drips its headers a byte at a
time is cut when the deadline passes, and the connection is closed. (Name resolution is the resolver's.)
"""

from __future__ import annotations

import base64
import logging
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from certificates.crypto import SecretsError
from hostpanel.http import USER_AGENT, http_exchange
from status.modstatus import MAX_STATUS_BYTES, WorkerRead, parse_server_status, status_url_for, with_auto
from status.parse import (
    MAX_RESPONSE_BYTES,
    ApplyResult,
    BalancerStatus,
    FrontEndLive,
    HostState,
    MemberChange,
    MemberStatus,
    StatusError,
    find_worker,
    nonces_from_html,
    parse_manager_xml,
)

logger = logging.getLogger(__name__)


def status_timeout() -> float:
    return float(settings.HOSTPANEL_STATUS_TIMEOUT)


@dataclass(frozen=True)
class ManagerEndpoint:
    """Where and how to reach one front-end's balancer-manager (a plain value, safe to hand to a thread)."""

    frontend_id: int | None
    frontend_name: str
    url: str
    username: str = ""
    password: str = ""
    status_url: str = ""  # mod_status (`?auto`); "" with status_skip saying why it is not read
    status_skip: str = ""

    @classmethod
    def of(cls, frontend: Any) -> ManagerEndpoint:
        try:
            password = frontend.manager_password  # decrypted here, in memory only
        except SecretsError as exc:  # a wrong key must not stop the polling of every other front-end
            logger.error("front-end %s: balancer-manager password not usable: %s", frontend.name, exc)
            password = ""
        status_url = status_url_for(frontend.balancer_manager_url, getattr(frontend, "status_url", ""))
        skip = "" if status_url else "no status URL and no balancer-manager URL to derive it from"
        modules = (getattr(frontend, "apache_facts", None) or {}).get("modules")
        if status_url and modules and "status" not in modules:  # the connection test read the modules
            skip = "mod_status is not loaded on this front-end (see README, 'mod_status')"
        return cls(
            frontend_id=frontend.pk,
            frontend_name=frontend.name,
            url=frontend.balancer_manager_url,
            username=frontend.manager_username,
            password=password,
            status_url="" if skip else status_url,
            status_skip=skip,
        )


def _request(
    endpoint: ManagerEndpoint,
    method: str,
    *,
    query: str = "",
    body: bytes | None = None,
    timeout: float,
    deadline: float | None = None,
    max_bytes: int | None = None,
    url: str = "",
) -> bytes:
    """One HTTP request to the manager (or to `url`, e.g. mod_status, with the manager's login), over by
    `deadline` (default: `timeout` seconds from now) whatever the peer does; raises StatusError."""
    max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    deadline = time.monotonic() + timeout if deadline is None else deadline
    target = url or endpoint.url
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StatusError(HostState.UNCONFIGURED, f"not an http(s) URL: {target[:100]!r}")
    headers = {"Referer": target, "User-Agent": USER_AGENT, "Accept": "application/xml, text/xml, */*"}
    if endpoint.username or endpoint.password:
        token = base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = urllib.parse.urlunsplit(parts._replace(path=parts.path or "/", query=query or parts.query, fragment=""))
    answer = http_exchange(
        method, url, headers=headers, body=body, timeout=timeout, deadline=deadline, max_bytes=max_bytes + 1
    )
    if not answer.status:
        why = {
            "refused": (HostState.REFUSED, f"connection refused by {parts.netloc}"),
            "timeout": (HostState.TIMEOUT, f"no answer from {parts.netloc} within {timeout:g} s"),
            "tls": (HostState.DOWN, f"TLS error: {answer.detail}"),
            "dns": (HostState.DOWN, f"cannot resolve {parts.hostname}: {answer.detail}"),
        }.get(answer.failure, (HostState.DOWN, answer.error[:200]))
        raise StatusError(*why)
    if answer.status != 200:
        hint = " (check the manager user name and password)" if answer.status == 401 else ""
        if answer.status == 404 and target != endpoint.url:
            hint = " (is mod_status loaded, with a server-status handler at this URL? README: 'mod_status')"
        elif answer.status == 403:
            hint = " (does the front-end's Require allow the panel's address?)"
        raise StatusError(HostState.DOWN, f"HTTP {answer.status} {answer.reason}{hint}")
    if len(answer.body) > max_bytes:
        raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
    return answer.body


def fetch_manager(
    endpoint: ManagerEndpoint, *, timeout: float | None = None, deadline: float | None = None
) -> FrontEndLive:
    """The parsed state of one front-end, or its failure, by `deadline` (default: `timeout` seconds from
    now; the HTML nonce fallback included); never raises."""
    timeout = status_timeout() if timeout is None else timeout
    started = time.monotonic()
    deadline = started + timeout if deadline is None else deadline
    result = FrontEndLive(endpoint.frontend_id, endpoint.frontend_name, endpoint.url, HostState.OK)
    try:
        if not endpoint.url:
            raise StatusError(HostState.UNCONFIGURED, "no balancer-manager URL is set for this front-end")
        data = _request(endpoint, "GET", query="xml=1", timeout=timeout, deadline=deadline)
        result.balancers = parse_manager_xml(data)
        if any(not b.nonce for b in result.balancers):
            result.balancers = _with_html_nonces(endpoint, result.balancers, timeout=timeout, deadline=deadline)
    except StatusError as exc:
        result.state, result.reason = exc.state, exc.reason
    except Exception as exc:  # noqa: BLE001 - a dashboard must show the host, not crash
        result.state, result.reason = HostState.JUNK, f"unexpected {type(exc).__name__}: {exc}"[:200]
    result.duration = time.monotonic() - started
    return result


def _with_html_nonces(
    endpoint: ManagerEndpoint, balancers: tuple[BalancerStatus, ...], *, timeout: float, deadline: float
) -> tuple[BalancerStatus, ...]:
    """Older 2.4 builds have no <httpd:nonce>: take it from the HTML page's links."""
    html = _request(endpoint, "GET", timeout=timeout, deadline=deadline).decode("utf-8", "replace")
    nonces = nonces_from_html(html)
    return tuple(b if b.nonce else replace(b, nonce=nonces.get(b.name, "")) for b in balancers)


def fetch_workers(
    endpoint: ManagerEndpoint, *, timeout: float | None = None, deadline: float | None = None
) -> WorkerRead:
    """One front-end's mod_status figures, or why there are none, by `deadline`; never raises."""
    timeout = status_timeout() if timeout is None else timeout
    started = time.monotonic()
    deadline = started + timeout if deadline is None else deadline
    url = with_auto(endpoint.status_url) if endpoint.status_url else ""
    result = WorkerRead(endpoint.frontend_id, endpoint.frontend_name, url, HostState.OK)
    try:
        if not url:
            raise StatusError(HostState.UNCONFIGURED, endpoint.status_skip or "no status URL")
        data = _request(endpoint, "GET", url=url, timeout=timeout, deadline=deadline, max_bytes=MAX_STATUS_BYTES)
        result.figures = parse_server_status(data)
    except StatusError as exc:
        result.state, result.reason = exc.state, exc.reason
    except Exception as exc:  # noqa: BLE001 - one front-end's odd answer must not stop the poll
        result.state, result.reason = HostState.JUNK, f"unexpected {type(exc).__name__}: {exc}"[:200]
    result.duration = time.monotonic() - started
    return result


FETCH_THREADS = 32  # front-ends asked at once; the others start as threads free up, within the same deadline


def fetch_all(endpoints: Sequence[ManagerEndpoint], *, timeout: float | None = None) -> list[FrontEndLive]:
    """All front-ends concurrently, in the given order, every one by the same deadline (`timeout` seconds
    from now): the whole call takes about one timeout, never the sum, and leaves no thread behind."""
    return fetch_round(endpoints, timeout=timeout, workers=False)[0]


def fetch_round(
    endpoints: Sequence[ManagerEndpoint], *, timeout: float | None = None, workers: bool = True
) -> tuple[list[FrontEndLive], list[WorkerRead]]:
    """The balancer-manager of every front-end and (workers=True) its mod_status, all concurrently and by
    the same deadline: a poll round still takes about one timeout. Both lists in the endpoints' order."""
    timeout = status_timeout() if timeout is None else timeout
    if not endpoints:
        return [], []
    deadline = time.monotonic() + timeout
    tasks = len(endpoints) * (2 if workers else 1)
    pool = ThreadPoolExecutor(max_workers=min(tasks, FETCH_THREADS), thread_name_prefix="status")
    managers: list[Future[FrontEndLive]] = [
        pool.submit(fetch_manager, e, timeout=timeout, deadline=deadline) for e in endpoints
    ]
    statuses: list[Future[WorkerRead]] = (
        [pool.submit(fetch_workers, e, timeout=timeout, deadline=deadline) for e in endpoints] if workers else []
    )
    everything: list[Future[Any]] = [*managers, *statuses]
    _done, late = wait(everything, timeout=timeout + 0.5)
    # every request ends by the deadline, so the threads are done; one that is not (a resolver that hangs)
    # is reported as a timeout and its thread ends with its request
    pool.shutdown(wait=not late, cancel_futures=True)
    late_reason = f"no answer within {timeout:g} s"
    hosts = [
        f.result()
        if f.done() and not f.cancelled()
        else FrontEndLive(e.frontend_id, e.frontend_name, e.url, HostState.TIMEOUT, late_reason)
        for f, e in zip(managers, endpoints, strict=True)
    ]
    reads = [
        f.result()
        if f.done() and not f.cancelled()
        else WorkerRead(e.frontend_id, e.frontend_name, e.status_url, HostState.TIMEOUT, late_reason)
        for f, e in zip(statuses, endpoints if workers else [], strict=True)
    ]
    return hosts, reads


# --- live changes --------------------------------------------------------------------------------


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
