"""Traffic metering benchmark: collecting one hour of usage logs of N sites on F front-ends (metering.collect).

    .venv/bin/python bench/usage.py [--sites 10000] [--frontends 3] [--requests 20] [--files 1,12] [--ssh]

Generates the usage-log files rotatelogs would have closed for one hour of traffic (every site and every
third site's alias get `--requests` requests per front-end, spread over the hour, plus 1 % names no site
claims), split into 1 file per front-end (hourly rotation) or more (e.g. 12: five-minute rotation), then times
ONE collection of every front-end and counts its database queries: the queries grow with the number of files
(a constant few per file: the CollectedFile row, the usage upsert, removed_at), never with lines or sites.
The totals are checked against what was generated. Local transport by default; --ssh reads every front-end
over a real sshd on 127.0.0.1 (devrig.sshd), as the panel does. SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-usage-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from balancers import services as balancer_services
from hostpanel.audit import Actor
from metering.collect import collect_usage
from metering.models import CollectedFile, UsageHour
from sites.models import Site, SiteAlias
from sites.services import site_hostnames_backfill

ACTOR = Actor.command("bench/usage.py")
HOUR = datetime.datetime(2026, 12, 7, 10, tzinfo=datetime.UTC)


def make_sites(count: int) -> list[str]:
    """count sites (seed_demo's generator) and a www. alias on every third: the host names a client may use."""
    call_command("seed_demo", sites=count, no_user=True, verbosity=0)
    domains = list(Site.objects.order_by("domain").values_list("domain", flat=True))
    aliases = [SiteAlias(site_id=pk, name=f"www.{d}") for pk, d in Site.objects.values_list("pk", "domain")[::3]]
    SiteAlias.objects.bulk_create(aliases, batch_size=500, ignore_conflicts=True)
    site_hostnames_backfill(domains)
    return domains


def write_logs(directory: Path, names: list[str], requests: int, files: int, rng: random.Random) -> tuple[int, int]:
    """One hour of usage-log lines in `files` closed files (and rotatelogs' empty open one); returns
    (requests counted for a site, bytes out of those)."""
    directory.mkdir(parents=True, exist_ok=True)
    step = 3600 // files
    start = int(HOUR.timestamp())
    buckets: list[list[str]] = [[] for _ in range(files)]
    counted = bytes_out = 0
    for name in names:
        for _ in range(requests):
            second = rng.randrange(3600)
            out = rng.randrange(300, 60_000)
            status = rng.choice((200, 200, 200, 304, 404, 503))
            buckets[second // step].append(f"{start + second} {name} {rng.randrange(200, 900)} {out} {status} -\n")
            counted += 1
            bytes_out += out
    for n in range(len(names) // 100):  # made-up names: 404 from the routing, counted for no site
        second = rng.randrange(3600)
        buckets[second // step].append(f"{start + second} scan{n}.invalid 120 400 404 1\n")
    for index, lines in enumerate(buckets):
        stamp = datetime.datetime.fromtimestamp(start + index * step, datetime.UTC)
        (directory / f"usage.{stamp:%Y%m%d%H%M%S}.log").write_text("".join(lines))
    (directory / f"usage.{HOUR + datetime.timedelta(hours=1):%Y%m%d%H%M%S}.log").write_text("")
    return counted, bytes_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--frontends", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="requests per host name per front-end in the hour")
    parser.add_argument("--files", default="1,12", help="closed files per front-end for the hour, one run each")
    parser.add_argument("--ssh", action="store_true", help="read the front-ends over a real sshd (devrig.sshd)")
    args = parser.parse_args()
    rng = random.Random(29)
    call_command("migrate", verbosity=0)
    settings.HOSTPANEL_LOCAL_TRANSPORT = True
    started = time.monotonic()
    domains = make_sites(args.sites)
    names = domains + [f"www.{d}" for d in domains[::3]]
    print(f"{len(domains):,} sites, {len(names):,} host names ({time.monotonic() - started:.1f} s to create)")
    sshd = None
    login: dict = {"transport": "local"}
    if args.ssh:
        from devrig.fleet import make_client_key  # noqa: PLC0415 - real parts only with --ssh
        from devrig.sshd import SshServer  # noqa: PLC0415

        key = make_client_key(TMP / "panel")
        settings.HOSTPANEL_SSH_KEY = str(key)
        sshd = SshServer(TMP / "sshd", client_key=key).start()
        login = {"transport": "ssh", "ssh_port": sshd.port, "ssh_user": sshd.user, "ssh_host_key": sshd.host_key}
    frontends = [
        balancer_services.frontend_create(
            actor=ACTOR,
            name=f"fe{i}",
            address="127.0.0.1",
            config_dir=str(TMP / f"fe{i}" / "hostpanel"),
            usage_log_dir=str(TMP / f"fe{i}" / "usage"),
            **login,
        )
        for i in range(1, args.frontends + 1)
    ]
    rows = []
    try:
        for files in (int(f) for f in args.files.split(",")):
            UsageHour.objects.all().delete()
            CollectedFile.objects.all().delete()  # the runs reuse file names: each run starts afresh
            expected = [0, 0]
            for frontend in frontends:
                counted, out = write_logs(Path(frontend.usage_log_dir), names, args.requests, files, rng)
                expected[0] += counted
                expected[1] += out
            size = sum(p.stat().st_size for f in frontends for p in Path(f.usage_log_dir).glob("*.log"))
            with CaptureQueriesContext(connection) as queries:
                began = time.monotonic()
                result = collect_usage()
                seconds = time.monotonic() - began
            assert result.failures == [], result.failures
            stats = CollectedFile.objects.aggregate(u=Sum("unknown_lines"), b=Sum("bad_lines"), n=Sum("lines"))
            print(f"files={files}: {stats['n']:,} lines, {stats['u']:,} for no site, {stats['b']:,} bad")
            got = UsageHour.objects.aggregate(r=Sum("requests"), o=Sum("bytes_out"))
            assert [got["r"], got["o"]] == expected, (got, expected)
            lines = sum(r.lines for r in result.frontends)
            kinds = Counter(" ".join(q["sql"].split()[:3])[:40] for q in queries.captured_queries)
            print(f"files={files}: queries by kind {dict(kinds)}")
            rows.append((files, result.counted, lines, size, seconds, len(queries), UsageHour.objects.count()))
    finally:
        if sshd:
            sshd.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    transport = "SSH (real sshd, 127.0.0.1)" if args.ssh else "local"
    print(f"\n{args.frontends} front-ends, {transport}; one hour, {args.requests} requests per host name per front-end")
    print("| files per front-end | files counted | lines | MB | collection | lines/s | queries | UsageHour rows |")
    print("|---|---|---|---|---|---|---|---|")
    for files, counted, lines, size, seconds, queries, usage_rows in rows:
        print(
            f"| {files} | {counted} | {lines:,} | {size / 1e6:.1f} | {seconds:.2f} s | {lines / seconds:,.0f} | "
            f"{queries} | {usage_rows:,} |"
        )


if __name__ == "__main__":
    main()
