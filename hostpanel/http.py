"""The one HTTP client of the panel: every request HostPanel makes to a front-end, a Zope server or a
receiver goes through here (balancer-manager reads and changes in status.manager, deploy verify and
probes in deploy/, webhooks in alerts.delivery, restart health and warm-up in operations, the ACME
pre-flight in certificates).

* **exchange** (`http_exchange`): one request as it comes (status 0 and an error when no answer came).
* **answers** (`url_answers`, `wait_until_answers`): a health or manager URL answers below 500; a redirect
  is followed only within the URL's own scheme, host and port.
* **connection** (`DeadlineConnection`): what status.manager builds its manager requests on.

Every request has one wall-clock deadline (connect, TLS handshake, send, status line, headers and body
together): each wait on the socket gets only what is left of it, so a peer that drips its headers a byte at a
time is cut when the deadline passes, and the connection is closed. (Name resolution is the resolver's.)
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from hostpanel.deadline import DeadlineSocket, time_left

USER_AGENT = "HostPanel status"


class DeadlineConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose every step (connect, handshake, send, each read) ends by one deadline."""

    def __init__(
        self, parts: urllib.parse.SplitResult, *, deadline: float, tls_name: str = "", verify_tls: bool = True
    ) -> None:
        tls = parts.scheme == "https"
        self.default_port = 443 if tls else 80
        assert parts.hostname, "http_exchange refuses a URL without a host"
        super().__init__(parts.hostname, parts.port, timeout=time_left(deadline))
        self._deadline = deadline
        self._tls = ssl.create_default_context() if tls else None
        self._tls_name = tls_name  # the SNI to send, when not the URL's host
        if self._tls is not None and not verify_tls:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), time_left(self._deadline))
        try:
            if self._tls is not None:
                sock.settimeout(time_left(self._deadline))  # the handshake as a whole keeps to it
                sock = self._tls.wrap_socket(sock, server_hostname=self._tls_name or self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = DeadlineSocket(sock, self._deadline)


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
    """One HTTP exchange: status 0 and `error` when no answer came; redirects are not followed.
    `failure` says why no answer came (refused, timeout, tls, dns, other) and `detail` the error's own text,
    for callers that report each differently (status.manager)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    error: str = ""
    seconds: float = 0.0
    reason: str = ""
    failure: str = ""
    detail: str = ""


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ConnectionRefusedError):
        return "refused", str(exc)
    if isinstance(exc, TimeoutError):
        return "timeout", str(exc)
    if isinstance(exc, ssl.SSLError):
        return "tls", str(exc)
    if isinstance(exc, socket.gaierror):
        return "dns", str(exc.strerror)
    return "other", str(exc)


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
    tls_name: str = "",
    verify_tls: bool = True,
) -> HttpAnswer:
    """One request to an http(s) URL (optionally with another Host header: a site through a front-end),
    over by `deadline` (default: `timeout` seconds from now) whatever the peer does; the body is cut at
    max_bytes. `tls_name`: the SNI to send over https (default the URL's host); `verify_tls=False` for a
    question about which vhost answers, not about its certificate (deploy.vhost_proof). Never raises."""
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
        conn = DeadlineConnection(
            parts,
            deadline=started + timeout if deadline is None else deadline,
            tls_name=tls_name,
            verify_tls=verify_tls,
        )
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read(max_bytes)
        return HttpAnswer(
            response.status,
            dict(response.getheaders()),
            data,
            seconds=time.monotonic() - started,
            reason=response.reason,
        )
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        failure, detail = _failure(exc)
        return HttpAnswer(0, {}, error=reason[:200], seconds=time.monotonic() - started, failure=failure, detail=detail)
    finally:
        if conn is not None:
            conn.close()
