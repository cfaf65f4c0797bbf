"""Fixtures for the status tests: silent sockets, canned HTTP answers, real backends and a real Apache."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from tests.realparts import free_port
from tests.status.rig import Apache, Backend


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung front-end)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    sock.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    return free_port()


@pytest.fixture
def canned_server():
    """start(status, body, content_type) -> URL of a server that answers every request with that; it records
    the requests it saw in .requests."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int = 200, body: bytes = b"", content_type: str = "text/xml"):
        seen: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.requests = seen
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/balancer-manager", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def backends():
    """Three real HTTP backends answering with their names: zope1, zope2, backup."""
    started = {name: Backend(name).start() for name in ("zope1", "zope2", "backup")}
    yield started
    for backend in started.values():
        backend.stop()


@pytest.fixture
def apache_factory(tmp_path):
    """make(name) -> a not-yet-started Apache under tmp_path; every one is stopped at the end."""
    made: list[Apache] = []

    def make(name: str = "fe1") -> Apache:
        apache = Apache(tmp_path / name)
        apache.site_port = free_port()
        apache.manager_port = free_port()
        made.append(apache)
        return apache

    yield make
    for apache in made:
        apache.stop()
