"""Server time of the dashboard with 1,000 sites, 3 balancers and 4 front-ends, and the requests it sends
to the front-ends.

Run: .venv/bin/python bench/dashboard.py [--rounds 5] [--timeout 2]

Each front-end is a real HTTP server on 127.0.0.1 answering balancer-manager's XML (captured from
Apache 2.4.71) and counting the requests it gets. Three scenarios: all four up; one refusing connections
(closed port); one that accepts and never answers (the worst case for a live fetch: the status timeout).
Each is measured as every browser refresh does it (`/`: the poller's latest samples, after one poll) and
as "refresh now" does it (`/?live=1`: every balancer-manager asked). A throwaway SQLite database under a
temp directory (or DATABASE_URL if set) is migrated and seeded; nothing else is touched.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="hostpanel-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostpanel.test_settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("HOSTPANEL_VAR_DIR", TMP)

import django

django.setup()

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment

from balancers import services
from balancers.models import Balancer, FrontEnd, ZopeServer
from hostpanel.audit import Actor
from sites.models import Site
from status.poller import poll_once

XML = (ROOT / "tests" / "fixtures" / "balancer-manager-2.4.71.xml").read_bytes()
REQUESTS: list[str] = []  # every request any xml_server answered


def xml_server() -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            REQUESTS.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(XML)))
            self.end_headers()
            self.wfile.write(XML)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def silent_server() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # accepted by the kernel backlog, never answered
    return sock, sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(client: Client, rounds: int, path: str) -> tuple[float, float, int, float]:
    client.get(path)  # warm-up
    times = []
    queries = 0
    before = len(REQUESTS)
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        queries = len(ctx.captured_queries)
    return statistics.median(times), max(times), queries, (len(REQUESTS) - before) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    settings.HOSTPANEL_STATUS_TIMEOUT = args.timeout
    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", sites=999, no_user=True, verbosity=0)  # + linux.co.uk = 1,000 sites
    actor = Actor.command("bench")
    gold = services.balancer_create(actor=actor, name="gold")
    for server in ZopeServer.objects.all():
        services.member_create(actor=actor, balancer=gold, zope_server=server)
    servers = [xml_server() for _ in range(4)]
    silent, silent_port = silent_server()
    for i, (_, port) in enumerate(servers):
        services.frontend_create(
            actor=actor,
            name=f"fe{i + 1}",
            address="127.0.0.1",
            transport="local",
            balancer_manager_url=f"http://127.0.0.1:{port}/balancer-manager",
        )
    user = get_user_model().objects.create_superuser("bench", "bench@example.invalid", "bench-pw")
    client = Client()
    client.force_login(user)
    print(
        f"{Site.objects.count()} sites, {Balancer.objects.count()} balancers, {FrontEnd.objects.count()} front-ends; "
        f"status timeout {args.timeout:g} s; {args.rounds} rounds, median / max server time"
    )
    fe4 = FrontEnd.objects.get(name="fe4")
    scenarios = [
        ("all 4 up", fe4.balancer_manager_url),
        ("fe4 refuses (closed port)", f"http://127.0.0.1:{closed_port()}/balancer-manager"),
        ("fe4 hangs (accepts, never answers)", f"http://127.0.0.1:{silent_port}/balancer-manager"),
    ]
    for label, url in scenarios:
        FrontEnd.objects.filter(pk=fe4.pk).update(balancer_manager_url=url)
        poll_once()  # what `manage.py poll_status --loop` does every HOSTPANEL_STATUS_POLL_SECONDS
        for how, path in (("samples", "/"), ("live=1", "/?live=1")):
            median, worst, queries, sent = measure(client, args.rounds, path)
            print(
                f"  {label:36s} {how:8s} median {median * 1000:7.1f} ms   max {worst * 1000:7.1f} ms   "
                f"{queries:2d} SQL queries   {sent:.0f} requests to front-ends per refresh"
            )
    for server, _ in servers:
        server.shutdown()
        server.server_close()
    silent.close()


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
