"""Small real HTTP backends on 127.0.0.1 free ports, standing in for Zope servers in tests.

API (keep it small)::

    backend = Backend("zope1").start()     # threaded http.server on a free 127.0.0.1 port
    backend.port, backend.url               # 54321, "http://127.0.0.1:54321"
    backend.requests                        # [SeenRequest(method, path, host, headers), ...] it answered
    backend.stop(); backend.start()         # stop, and start again on the SAME port (recovery tests)
    backend.clear()                         # forget the recorded requests

Every answer is ``200`` with ``X-Backend: <name>`` and a JSON body
``{"backend": name, "method": ..., "path": ..., "host": ...}`` so a test can tell which backend
served a request and what it received (the VirtualHostBase path, the Host header).

Fixture ``backend_factory`` (import it into a conftest): ``backend_factory("zope1")`` returns a
started backend and stops it when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.realparts import free_port


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    host: str
    headers: dict[str, str] = field(default_factory=dict)


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
    server: _Server

    def _answer(self) -> None:
        backend = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        seen = SeenRequest(
            method=self.command,
            path=self.path,
            host=self.headers.get("Host", ""),
            headers={k: v for k, v in self.headers.items()},
        )
        with backend._lock:
            backend.requests.append(seen)
        body = json.dumps({"backend": backend.name, "method": seen.method, "path": seen.path, "host": seen.host})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", backend.name)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class Backend:
    """One HTTP backend answering with its own name; start()/stop() may be called repeatedly."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
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
        if self._server is None:
            server = _Server(("127.0.0.1", self.port), _Handler)
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


@pytest.fixture
def backend_factory():
    """Start named backends on free ports; every one is stopped when the test ends."""
    started: list[Backend] = []

    def make(name: str) -> Backend:
        backend = Backend(name).start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()
