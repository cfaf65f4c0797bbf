"""Usage API benchmark (#29): the time to read a month of traffic of 10,000 sites through the API, as billing does.

    /work/main/.venv/bin/python bench/usage_api.py [--sites 10000] [--hours-per-day 24] [--rolled-up]
                                                   [--page-size 500] [--workers 2]

A fresh SQLite database (a temporary file), `seed_demo --sites N`, a usage token (`create_api_token --scope
usage`), one calendar month (last month, UTC) of usage: every site, every hour (N x 720 UsageHour rows; with
--rolled-up the same month as N x 30 UsageDay rows, as it is once HOSTPANEL_USAGE_HOURLY_DAYS have passed),
and gunicorn on a free 127.0.0.1 port (stopped at the end). It then reads, one client, one request at a time:

* every page of `GET /api/v1/usage/?month=YYYY-MM&page_size=P` (the whole fleet as JSON);
* `GET /api/v1/usage/?month=YYYY-MM&format=csv` (the whole fleet in one CSV);
* 200 × `GET /api/v1/sites/{domain}/usage/?granularity=day` over that month, and 200 hourly ones over a day.

and checks that the sums it read equal the rows it wrote; then times the staff "Top sites" read of the month.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
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
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=3600
    )
    return result.stdout


def last_month(now: datetime.datetime) -> datetime.date:
    first = now.date().replace(day=1)
    return (first - datetime.timedelta(days=1)).replace(day=1)


def fill_usage(database: Path, month: datetime.date, hours_per_day: int, rolled_up: bool) -> tuple[int, int, int]:
    """Every site's traffic in the month, written with one INSERT ... SELECT; returns (rows, requests, bytes out).
    A site's counts in an hour are a fixed function of its id and the hour, so the totals are known."""
    days = ((month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - month).days
    db = sqlite3.connect(database)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        if rolled_up:
            db.execute(
                """
                WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n + 1 < ?)
                INSERT INTO metering_usageday (site_id, day, requests, bytes_in, bytes_out,
                                               status_2xx, status_3xx, status_4xx, status_5xx)
                SELECT s.id, date(?, '+' || d.n || ' days'), ? * (1 + s.id % 7), ? * 300 * (1 + s.id % 7),
                       ? * 25000 * (1 + s.id % 7), ? * (1 + s.id % 7), 0, 0, 0
                FROM sites_site s CROSS JOIN d
                """,
                (days, month.isoformat(), hours_per_day, hours_per_day, hours_per_day, hours_per_day),
            )
        else:
            db.execute(
                """
                WITH RECURSIVE h(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM h WHERE n + 1 < ?)
                INSERT INTO metering_usagehour (site_id, hour, requests, bytes_in, bytes_out,
                                                status_2xx, status_3xx, status_4xx, status_5xx)
                SELECT s.id, strftime('%Y-%m-%d %H:00:00', ?, '+' || h.n || ' hours'), 1 + s.id % 7,
                       300 * (1 + s.id % 7), 25000 * (1 + s.id % 7), 1 + s.id % 7, 0, 0, 0
                FROM sites_site s CROSS JOIN h
                WHERE h.n % 24 < ?
                """,
                (days * 24, month.isoformat(), hours_per_day),
            )
        db.commit()
        rows, requests_total, bytes_total = db.execute(
            "SELECT (SELECT count(*) FROM metering_usagehour) + (SELECT count(*) FROM metering_usageday), "
            "(SELECT coalesce(sum(requests), 0) FROM metering_usagehour) + "
            "(SELECT coalesce(sum(requests), 0) FROM metering_usageday), "
            "(SELECT coalesce(sum(bytes_out), 0) FROM metering_usagehour) + "
            "(SELECT coalesce(sum(bytes_out), 0) FROM metering_usageday)"
        ).fetchone()
    finally:
        db.close()
    return rows, requests_total, bytes_total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--hours-per-day", type=int, default=24, help="hours with traffic per site and day")
    parser.add_argument("--rolled-up", action="store_true", help="the month as daily rows (older than 62 days)")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hostpanel-bench-usage-"))
    database = tmp / "bench.sqlite3"
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
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "ERROR",
    }
    started = time.perf_counter()
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo", "--sites", str(args.sites), "--no-user", "-v0")
    key = manage(env, "create_api_token", f"bench-{secrets.token_hex(3)}", "--scope", "usage").strip().splitlines()[-1]
    month = last_month(datetime.datetime.now(datetime.UTC))
    rows, requests_total, bytes_total = fill_usage(database, month, args.hours_per_day, args.rolled_up)
    print(
        f"Usage API benchmark: {args.sites} sites (+ the demo's), month {month:%Y-%m}, {rows:,} "
        f"{'UsageDay' if args.rolled_up else 'UsageHour'} rows, SQLite, gunicorn -w {args.workers}; "
        f"set up in {time.perf_counter() - started:.0f} s"
    )

    port = free_port()
    server = subprocess.Popen(
        [
            GUNICORN,
            "hostpanel.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--log-level",
            "error",
            "--timeout",
            "300",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/ready-probe/", timeout=10).status_code == 404:
                    break
            except requests.RequestException:  # not up yet, or still loading the app
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        # the whole fleet, page by page
        url, pages, latencies, seen_requests, seen_bytes, sites = (
            f"{base}/usage/?month={month:%Y-%m}&page_size={args.page_size}",
            0,
            [],
            0,
            0,
            [],
        )
        began = time.perf_counter()
        while url:
            t0 = time.perf_counter()
            response = session.get(url, timeout=300)
            latencies.append(time.perf_counter() - t0)
            response.raise_for_status()
            body = response.json()
            pages += 1
            for row in body["results"]:
                seen_requests += row["requests"]
                seen_bytes += row["bytes_out"]
                sites.append(row["site"])
            url = body["next"]
        total = time.perf_counter() - began
        assert (seen_requests, seen_bytes) == (requests_total, bytes_total), "the API's sums differ from the rows"
        print(
            f"GET /usage/?month (JSON)     {len(sites):>6} sites in {pages} pages of {args.page_size}: "
            f"{total:6.2f} s total, per page median {statistics.median(latencies) * 1000:7.1f} ms, "
            f"max {max(latencies) * 1000:7.1f} ms"
        )

        t0 = time.perf_counter()
        response = session.get(f"{base}/usage/?month={month:%Y-%m}&format=csv", timeout=600)
        csv_seconds = time.perf_counter() - t0
        response.raise_for_status()
        lines = response.text.count("\r\n") - 1
        print(
            f"GET /usage/?month&format=csv {lines:>6} rows, {len(response.content) / 1e6:.1f} MB: {csv_seconds:6.2f} s"
        )

        rng = random.Random(1)
        first = datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)
        for label, params in (
            ("day", f"granularity=day&from={first:%Y-%m-%d}&to={month:%Y-%m}-28"),
            ("hour", f"granularity=hour&from={first:%Y-%m-%d}T00:00:00Z&to={first:%Y-%m-%d}T23:59:59Z"),
        ):
            if label == "hour" and args.rolled_up:
                continue
            timings = []
            for domain in rng.sample(sites, min(200, len(sites))):
                t0 = time.perf_counter()
                response = session.get(f"{base}/sites/{domain}/usage/?{params}", timeout=60)
                timings.append(time.perf_counter() - t0)
                response.raise_for_status()
            timings.sort()
            p95 = timings[int(len(timings) * 0.95) - 1]
            print(
                f"GET /sites/{{d}}/usage/ {label:<4}   {len(timings):>6} requests: median "
                f"{statistics.median(timings) * 1000:7.1f} ms, p95 {p95 * 1000:7.1f} ms"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # the staff "Top sites" page's read: the whole month ranked (its pages are cut from this list)
    code = (
        "import time; from metering import selectors; s, e = selectors.month_range(selectors.parse_month("
        f"'{month:%Y-%m}')); t = time.perf_counter(); r = selectors.top_sites(s, e); "
        "print(f'top_sites (staff page)       {len(r):>6} sites ranked: {time.perf_counter() - t:6.2f} s')"
    )
    print(manage(env, "shell", "-v0", "-c", code).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
