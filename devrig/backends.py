"""The one fake Zope/Plone backend: a small threaded HTTP server on 127.0.0.1, standing in for a Zope
server in the tests, the benchmarks and the local demo (`manage.py demo_frontend backends`).

API (keep it small)::

    backend = Backend("zope1").start()     # on a free 127.0.0.1 port (or Backend("zope1", port=18101))
    backend.port, backend.url               # 54321, "http://127.0.0.1:54321"
    backend.requests                        # [SeenRequest(method, path, host, headers, body), ...] it answered
    backend.stop(); backend.start()         # stop, and start again on the SAME port (recovery tests)
    backend.clear()                         # forget the recorded requests
    backend.status = 503; backend.delay = 2 # answer every request with that status / after that many seconds

Every answer carries ``X-Backend: <name>``. The body is, by ``page``:

- ``"json"`` (default): ``{"backend": name, "method": ..., "path": ..., "host": ...}`` (plus ``"user"``
  once logged in), so a test can tell which backend served a request and what it received (the
  VirtualHostBase path, the Host header);
- ``"html"``: a small page naming the backend and the Plone site of the VirtualHostBase path (the demo).

A Plone-like login: ``POST .../login`` with ``__ac_name=NAME`` answers ``302`` and sets the cookie
``__ac=NAME`` (Path=/); later requests carrying it show ``"user": NAME``. Connections are HTTP/1.1
keep-alive, as Zope's are; ``stop()`` cuts them too, so a stopped backend looks dead to Apache.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devrig.net import free_port

LOGIN_COOKIE = "__ac"

# Zope's VirtualHostMonster path, as the rendered vhosts send it (docs/apache-facts.md).
_VHB = re.compile(r"^/VirtualHostBase/(?P<scheme>[^/]+)/(?P<host>[^/]+)(?P<site>/.*?)/VirtualHostRoot(?P<rest>/.*)?$")


@dataclass(frozen=True)
class VirtualHostPath:
    scheme: str
    host: str  # "linux.co.uk:80" as Apache writes it
    site: str  # the Plone site's path in Zope, "/plone/linux"
    rest: str  # the client's path, "/" when empty


def parse_vhm(path: str) -> VirtualHostPath | None:
    """The parts of a `/VirtualHostBase/<scheme>/<host:port>/<site>/VirtualHostRoot/<rest>` path, or None."""
    match = _VHB.match(path.split("?")[0])
    if not match:
        return None
    return VirtualHostPath(match["scheme"], match["host"], match["site"], match["rest"] or "/")


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    host: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    backend: Backend

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut open keep-alive connections too: a stopped backend must look dead to Apache."""
        with self.connections_lock:
            connections, self.connections = self.connections, set()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Zope does: Apache's proxy reuses connections
    # Headers and body are two writes: without TCP_NODELAY the body waits for the delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "HostPanelFakeZope/1.0"
    server: _Server

    def _answer(self) -> None:
        backend = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = SeenRequest(
            method=self.command,
            path=self.path,
            host=self.headers.get("Host", ""),
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        with backend._lock:
            backend.requests.append(seen)
        if backend.delay:
            time.sleep(backend.delay)
        if self.command == "POST" and self.path.split("?")[0].endswith("/login"):
            self._login(seen)
            return
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        user = cookie[LOGIN_COOKIE].value if LOGIN_COOKIE in cookie else None
        if backend.page == "html":
            content_type, data = "text/html; charset=utf-8", _page(backend.name, seen.path).encode()
        else:
            answer = {"backend": backend.name, "method": seen.method, "path": seen.path, "host": seen.host}
            if user:
                answer["user"] = user
            content_type, data = "application/json", json.dumps(answer).encode()
        self.send_response(backend.status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Backend", backend.name)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _login(self, seen: SeenRequest) -> None:
        form = urllib.parse.parse_qs(seen.body.decode(errors="replace"))
        name = (form.get("__ac_name") or [""])[0]
        self.send_response(302 if name else 401)
        self.send_header("X-Backend", self.server.backend.name)
        if name:
            self.send_header("Set-Cookie", f"{LOGIN_COOKIE}={name}; Path=/; HttpOnly")
            self.send_header("Location", seen.path.rsplit("/login", 1)[0] + "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = _answer
    # Zope answers WebDAV and REST methods too (a site's blocked_methods keep them from it: tests/rendering)
    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_PROPFIND = do_PROPPATCH = do_MKCOL = _answer
    do_COPY = do_MOVE = do_LOCK = do_UNLOCK = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def _page(name: str, path: str) -> str:
    vhm = parse_vhm(path)
    if vhm:
        detail = f"Plone site <code>{html.escape(vhm.site)}</code> for <code>{html.escape(vhm.host)}</code>"
    else:
        detail = f"path <code>{html.escape(path)}</code>"
    return (
        "<!doctype html><title>HostPanel demo</title>"
        f"<h1>Served by {html.escape(name)}</h1><p>{detail}</p>"
        "<p>This is one of HostPanel's demo backends standing in for a Zope server.</p>"
    )


class Backend:
    """One fake Zope server answering with its own name; start()/stop() may be called repeatedly."""

    handler: type[BaseHTTPRequestHandler] = _Handler  # devrig.node.NodeFrontend answers as a Volto server

    def __init__(
        self, name: str, port: int | None = None, *, status: int = 200, delay: float = 0.0, page: str = "json"
    ) -> None:
        if page not in {"json", "html"}:
            raise ValueError(f"page must be 'json' or 'html', not {page!r}")
        self.name = name
        self.port = port or free_port()
        self.status = status
        self.delay = delay
        self.page = page
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Backend:
        """Listen and serve in a daemon thread; OSError when the port is taken."""
        if self._server is None:
            server = _Server(("127.0.0.1", self.port), self.handler)
            server.backend = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name=f"backend-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __repr__(self) -> str:
        return f"<Backend {self.name} {self.url} {'up' if self.running else 'down'}>"
