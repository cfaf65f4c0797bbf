"""Benchmark of the sites' `live` / `pending_deployment` read (sites.selectors.deploy_state) against a growing
deployment history: 3 enabled front-ends and 1,000, 10,000 and 50,000 finished deployments (one host row per
front-end each), then a page of 100 sites through the API's serializer. Prints the queries and the median time.

    /work/main/.venv/bin/python bench/site_liveness.py [--sizes 1000,10000,50000]

Self-contained: migrates a fresh SQLite database in a temp directory (or uses DATABASE_URL if set, e.g. a
scratch PostgreSQL database: it must be empty and is left with the generated data).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.TemporaryDirectory(prefix="hostpanel-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP.name}/bench.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.sites.serializers import SiteSerializer
from balancers.models import Deployment, DeploymentHost, FrontEnd
from hostpanel.audit import Actor
from sites.models import Site
from sites.selectors import deploy_state

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def add_history(frontends: list[FrontEnd], count: int, start: datetime.datetime) -> None:
    batch = 2000
    for offset in range(0, count, batch):
        n = min(batch, count - offset)
        made = Deployment.objects.bulk_create(
            [Deployment(actor="bench", status="succeeded", trigger="automatic") for _ in range(n)]
        )
        DeploymentHost.objects.bulk_create(
            [
                DeploymentHost(
                    deployment=d,
                    frontend=fe,
                    frontend_name=fe.name,
                    status="succeeded",
                    stage="done",
                    started_at=start + datetime.timedelta(seconds=offset + i),
                )
                for i, d in enumerate(made)
                for fe in frontends
            ]
        )


def timed(fn, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", sites=99, no_user=True, verbosity=0)
    actor = Actor.command("bench")
    frontends = [FrontEnd.objects.create(name=f"fe{i}", address="10.0.0.1", ssh_host_key=HOST_KEY) for i in range(1, 4)]
    start = Site.objects.order_by("-updated_at").first().updated_at + datetime.timedelta(seconds=1)
    sites = list(Site.objects.select_related("balancer").prefetch_related("aliases")[:100])
    print(f"database: {connection.vendor}; {len(frontends)} enabled front-ends; page of {len(sites)} sites ({actor})")
    print(f"{'deployments':>11} {'host rows':>9} {'queries':>7} {'deploy_state ms':>15} {'page of 100 ms':>14}")
    done = 0
    for size in (int(s) for s in args.sizes.split(",")):
        add_history(frontends, size - done, start + datetime.timedelta(seconds=done))
        done = size
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # what autovacuum does after a bulk of inserts
        with CaptureQueriesContext(connection) as queries:
            state = deploy_state()
        assert all(state.liveness(s)["live"] for s in sites)
        state_ms = timed(deploy_state) * 1000
        page_ms = timed(lambda: SiteSerializer(sites, many=True, context={"deploy_state": deploy_state()}).data) * 1000
        rows = DeploymentHost.objects.count()
        print(f"{size:>11} {rows:>9} {len(queries):>7} {state_ms:>15.1f} {page_ms:>14.1f}")
    print(f"generated at {timezone.now():%Y-%m-%d %H:%M}")


if __name__ == "__main__":
    main()
