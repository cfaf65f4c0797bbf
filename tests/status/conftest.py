"""Fixtures for the status tests: a fake front-end answering its balancer-manager and its mod_status by path."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field

import pytest

from tests.samples import MANAGER_XML


@dataclass
class FakeFrontEnd:
    """A local HTTP server: /balancer-manager answers the captured XML, any other path `status_body`
    with `status_code` (after `status_delay` seconds); every request is recorded."""

    status_body: bytes = b""
    status_code: int = 200
    status_delay: float = 0.0
    requests: list = field(default_factory=list)
    port: int = 0

    @property
    def manager_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/balancer-manager"

    def seen(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"].startswith(path))


@pytest.fixture
def fake_frontend():
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status_body: bytes = b"", status_code: int = 200, status_delay: float = 0.0) -> FakeFrontEnd:
        fake = FakeFrontEnd(status_body, status_code, status_delay)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.requests.append({"path": self.path, "headers": dict(self.headers)})
                if not self.path.startswith("/balancer-manager"):
                    time.sleep(fake.status_delay)
                    code, body, kind = fake.status_code, fake.status_body, "text/plain"
                else:
                    code, body, kind = 200, MANAGER_XML, "text/xml"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        fake.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
