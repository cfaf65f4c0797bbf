"""Fixtures for the alerts tests: a secrets key, a real SMTP sink (aiosmtpd) and a local webhook receiver."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from devrig.net import free_port


@pytest.fixture(autouse=True)
def secrets_key(settings):
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]


@dataclass
class Sink:
    port: int
    messages: list = field(default_factory=list)  # (mail from, [rcpt tos], raw message text)
    arrived: list = field(default_factory=list)  # time.monotonic() of each message's arrival

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler name
        self.arrived.append(time.monotonic())
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode(errors="replace")))
        return "250 OK"


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message; the panel's mailer points at it."""
    sink = Sink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "hostpanel.mail.DeadlineEmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": sink.port, "timeout": 5},
        }
    }
    yield sink
    controller.stop()


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    seen: list = field(default_factory=list)  # (headers, body bytes, status answered)


@pytest.fixture
def webhook_receiver():
    """A local HTTP receiver: answers 500 to its first `fail_first` POSTs, then 204; records every one."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's handler name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = 500 if len(receiver.seen) < receiver.fail_first else 204
            receiver.seen.append((dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/hostpanel"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
