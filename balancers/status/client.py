"""The one HTTP client of the panel: balancer-manager reads and live member changes, and the plain
"does this URL answer" checks used after a deploy and by the connection test (apache-facts.md §4).

* **fetch** (`fetch_manager`, `fetch_all`): GET `<url>?xml=1` with the mandatory `Referer`, optional basic
  auth, a total deadline per host and a response size limit; many front-ends concurrently, so a page waits
  for the slowest host's timeout, never the sum. A host's failure becomes a `FrontEndLive` with a state
  (ok / down / timeout / refused / html / junk / unconfigured) and a human reason — nothing here raises.
* **change** (`apply_member_change`): read the nonce, POST the form body with the Referer, and read the state
  back, because Apache answers 200 even when it ignored the request (wrong nonce, missing Referer).
* **answers** (`url_answers`, `wait_until_answers`): a health or manager URL answers below 500.
* **exchange** (`http_exchange`): one request as it comes — Zope health and warm-up, site probes, webhooks.

Every request has one wall-clock deadline (connect, TLS handshake, send, status line, headers and body
together): each wait on the socket gets only what is left of it, so a peer that drips its headers a byte at a
time is cut when the deadline passes, and the connection is closed. (Name resolution is the resolver's.)
"""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import ssl
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from balancers.status.parse import (
    MAX_RESPONSE_BYTES,
    USER_AGENT,
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
from certificates.crypto import SecretsError
from hostpanel.deadline import DeadlineSocket, time_left

logger = logging.getLogger(__name__)

# --- one request, one deadline --------------------------------------------------------------------


class _DeadlineConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose every step (connect, handshake, send, each read) ends by one deadline."""

    def __init__(self, parts: urllib.parse.SplitResult, *, deadline: float) -> None:
        tls = parts.scheme == "https"
        self.default_port = 443 if tls else 80
        super().__init__(parts.hostname, parts.port, timeout=time_left(deadline))
        self._deadline = deadline
        self._tls = ssl.create_default_context() if tls else None

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), time_left(self._deadline))
        try:
            if self._tls is not None:
                sock.settimeout(time_left(self._deadline))  # the handshake as a whole keeps to it
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = DeadlineSocket(sock, self._deadline)


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
        try:
            password = frontend.manager_password  # decrypted here, in memory only
        except SecretsError as exc:  # a wrong key must not stop the polling of every other front-end
            logger.error("front-end %s: balancer-manager password not usable: %s", frontend.name, exc)
            password = ""
        return cls(
            frontend_id=frontend.pk,
            frontend_name=frontend.name,
            url=frontend.balancer_manager_url,
            username=frontend.manager_username,
            password=password,
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
) -> bytes:
    """One HTTP request to the manager, over by `deadline` (default: `timeout` seconds from now) whatever
    the peer does; raises StatusError."""
    max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    deadline = time.monotonic() + timeout if deadline is None else deadline
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
    conn: http.client.HTTPConnection | None = None
    try:
        conn = _DeadlineConnection(parts, deadline=deadline)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            hint = " (check the manager user name and password)" if response.status == 401 else ""
            raise StatusError(HostState.DOWN, f"HTTP {response.status} {response.reason}{hint}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
        data = response.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
        return data
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
        if conn is not None:
            conn.close()


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


FETCH_THREADS = 32  # front-ends asked at once; the others start as threads free up, within the same deadline


def fetch_all(endpoints: Sequence[ManagerEndpoint], *, timeout: float | None = None) -> list[FrontEndLive]:
    """All front-ends concurrently, in the given order, every one by the same deadline (`timeout` seconds
    from now): the whole call takes about one timeout, never the sum, and leaves no thread behind."""
    timeout = status_timeout() if timeout is None else timeout
    if not endpoints:
        return []
    deadline = time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=min(len(endpoints), FETCH_THREADS), thread_name_prefix="status")
    futures = [pool.submit(fetch_manager, e, timeout=timeout, deadline=deadline) for e in endpoints]
    _done, late = wait(futures, timeout=timeout + 0.5)
    # every request ends by the deadline, so the threads are done; one that is not (a resolver that hangs)
    # is reported as a timeout and its thread ends with its request
    pool.shutdown(wait=not late, cancel_futures=True)
    return [
        f.result()
        if f.done() and not f.cancelled()
        else FrontEndLive(e.frontend_id, e.frontend_name, e.url, HostState.TIMEOUT, f"no answer within {timeout:g} s")
        for f, e in zip(futures, endpoints, strict=True)
    ]


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


# --- does a URL answer ---------------------------------------------------------------------------


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit: where a request (and its credentials) goes."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


REDIRECTS_FOLLOWED = 4  # within the URL's origin (urllib's own limit for one URL); one more is an answer


def url_answers(url: str, *, timeout: float = 2.0) -> tuple[bool, str]:
    """True when an HTTP server answers the URL with a status below 500, all within `timeout` seconds.
    A redirect within the URL's own scheme, host and port is followed; one to another host (or scheme or
    port) is an answer, and is not followed: a health URL must never make the panel send requests to a
    host it was not configured with."""
    if not url.startswith(("http://", "https://")):
        return False, "not an http(s) URL"
    deadline = time.monotonic() + timeout
    for _hop in range(REDIRECTS_FOLLOWED + 1):
        headers = {"Referer": url, "User-Agent": "HostPanel-deploy-verify"}
        answer = http_exchange("GET", url, headers=headers, timeout=timeout, deadline=deadline, max_bytes=1024)
        if not answer.status:
            return False, answer.error
        location = answer.headers.get("Location", "") if 300 <= answer.status < 400 else ""
        following = urllib.parse.urljoin(url, location) if location else ""
        if not following or url_origin(following) != url_origin(url):
            break
        url = following
    return answer.status < 500, f"HTTP {answer.status}"


def wait_until_answers(url: str, seconds: float) -> tuple[bool, str]:
    """Wait (bounded) until the URL answers. During a graceful restart Apache keeps its listening
    sockets but accepts nothing until the new children run — seconds for thousands of vhosts — so
    one request may wait for the whole remaining window rather than time out early."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        ok, detail = url_answers(url, timeout=max(0.2, remaining))
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(0.1)


# --- one exchange, as it comes (probes, health and warm-up requests, webhooks) -------------------


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP exchange: status 0 and `error` when no answer came; redirects are not followed."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    error: str = ""
    seconds: float = 0.0


def http_exchange(
    method: str,
    url: str,
    *,
    host: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
    deadline: float | None = None,
    max_bytes: int = 65536,
) -> HttpAnswer:
    """One request to an http(s) URL (optionally with another Host header: a site through a front-end),
    over by `deadline` (default: `timeout` seconds from now) whatever the peer does; the body is cut at
    max_bytes. Never raises."""
    started = time.monotonic()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return HttpAnswer(0, {}, error=f"not an http(s) URL: {url[:100]!r}")
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    if host:
        sent["Host"] = host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection | None = None
    try:
        conn = _DeadlineConnection(parts, deadline=started + timeout if deadline is None else deadline)
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read(max_bytes)
        return HttpAnswer(response.status, dict(response.getheaders()), data, seconds=time.monotonic() - started)
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return HttpAnswer(0, {}, error=reason[:200], seconds=time.monotonic() - started)
    finally:
        if conn is not None:
            conn.close()
