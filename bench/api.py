"""REST API benchmark: 1,000 site creations through the API (automatic deploy off), then list pages
of 100 and single-site GETs. Prints requests per second and median / p95 latency per phase.

    /work/main/.venv/bin/python bench/api.py [--sites 1000] [--workers 2] [--clients 4]
                                             [--database-url postgres://postgres@127.0.0.1:5432/bench]

It runs the real stack: a fresh database (a temporary SQLite file unless --database-url is given;
that database is migrated and written to), `manage.py create_api_token`, and gunicorn on a free
127.0.0.1 port, stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=600
    )
    return result.stdout


def phase(name: str, calls: list, clients: int) -> None:
    """Run the calls (each returns (status, seconds)) on `clients` threads and print the figures."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda call: call(), calls))
    elapsed = time.perf_counter() - started
    latencies = sorted(r[1] for r in results)
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"{name:<28} {len(results):>5} requests  {len(results) / elapsed:8.1f} req/s  "
        f"median {statistics.median(latencies) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  statuses {statuses}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hostpanel-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostpanel.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "HOSTPANEL_AUTO_DEPLOY": "0",
        "HOSTPANEL_TASKS_BACKEND": "immediate",
        "HOSTPANEL_API_RATE": "1000000/min",
        "HOSTPANEL_VAR_DIR": str(tmp),
        "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
        "LOG_LEVEL": "ERROR",
    }
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo", "--sites", "0", "--no-user", "-v0")
    output = manage(env, "create_api_token", f"bench-{secrets.token_hex(3)}", "--scope", "operator")
    key = output.strip().splitlines()[-1]  # the command prints the key as its last line

    port = free_port()
    server = subprocess.Popen(
        [GUNICORN, "hostpanel.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(args.workers), "--log-level", "error"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Token {key}"
        return local.session

    def timed(method: str, url: str, **kwargs):
        def call():
            started = time.perf_counter()
            response = session().request(method, url, timeout=30, **kwargs)
            return response.status_code, time.perf_counter() - started

        return call

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/ready-probe/", timeout=10).status_code == 404:  # JSON 404: the app answers
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        print(
            f"HostPanel API benchmark: {args.sites} sites, gunicorn -w {args.workers}, {args.clients} clients, "
            f"database {env['DATABASE_URL'].split(':')[0]}"
        )
        tag = secrets.token_hex(2)
        domains = [f"bench{tag}-{i:05d}.example.net" for i in range(args.sites)]
        creations = [
            timed(
                "POST",
                f"{base}/sites/",
                json={
                    "domain": domain,
                    "aliases": [f"www.{domain}"],
                    "balancer": "bronze" if i % 2 else "silver",
                    "plone_path": f"/plone/site{i}",
                    "customer_ref": f"C{i}",
                },
            )
            for i, domain in enumerate(domains)
        ]
        phase("POST /sites/ (create)", creations, args.clients)
        pages = (args.sites + 99) // 100
        listing = [timed("GET", f"{base}/sites/?page_size=100&page={1 + i % pages}") for i in range(max(pages * 5, 50))]
        phase("GET /sites/?page_size=100", listing, args.clients)
        rng = random.Random(1)
        singles = [timed("GET", f"{base}/sites/{rng.choice(domains)}/") for _ in range(1000)]
        phase("GET /sites/{domain}/", singles, args.clients)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
