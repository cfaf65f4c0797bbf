"""Benchmark of snapshot + render (+ apache2 -t) for 100, 1,000 and 10,000 sites.

    /work/main/.venv/bin/python bench/render.py [--sizes 100,1000,10000] [--no-apache]

Self-contained: migrates a fresh SQLite database in a temp directory (or uses DATABASE_URL if set,
e.g. a scratch PostgreSQL database: it must be empty and is left with the generated data), loads
the demo (seed_demo) and adds generated sites, a third of them with an alias. Target: 10,000 sites
rendered in under 1 s with a constant number of queries.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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

from balancers.models import Balancer
from devrig import apache
from rendering.manifest import tree_digest
from rendering.render import render_tree
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites.models import Site, SiteAlias


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--no-apache", action="store_true", help="skip apache2 -t")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    call_command("migrate", verbosity=0)
    call_command("seed_demo", sites=0, no_user=True, verbosity=0)
    frontend = FrontEndRecord(name="bench")
    has_apache = apache.apache_binary() is not None and not args.no_apache

    print(f"database: {connection.vendor}; apache2 -t: {'yes' if has_apache else 'skipped'}")
    header = (
        f"{'sites':>6} {'mode':<12} {'queries':>7} {'snapshot s':>10} {'render s':>9} {'total s':>8} "
        f"{'files':>6} {'bytes':>10} {'apache2 -t s':>12}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        t0 = time.perf_counter()
        call_command("seed_demo", sites=size - 1, no_user=True, verbosity=0)  # + linux.co.uk
        taken = set(SiteAlias.objects.values_list("name", flat=True))
        SiteAlias.objects.bulk_create(
            [
                SiteAlias(site_id=pk, name=f"www.{domain}")
                for pk, domain in Site.objects.filter(domain__startswith="client").values_list("pk", "domain")[::3]
                if f"www.{domain}" not in taken
            ],
            batch_size=1000,
        )
        setup = time.perf_counter() - t0
        for mode in ("single-pass", "node-vhosts"):
            Balancer.objects.update(render_mode=mode)
            runs = []  # the machine is shared: best of 3 runs, and the median is printed too
            for _ in range(3):
                with CaptureQueriesContext(connection) as queries:
                    t0 = time.perf_counter()
                    snapshot = load_snapshot()
                    t1 = time.perf_counter()
                tree = render_tree(snapshot, frontend)
                t2 = time.perf_counter()
                runs.append((t2 - t0, t1 - t0, t2 - t1))
            runs.sort()
            total, snap_s, render_s = runs[0]
            median = runs[1][0]
            assert len(snapshot.sites) == size, (len(snapshot.sites), size)
            size_bytes = sum(len(text.encode()) for text in tree.values())
            check = "-"
            if has_apache:
                result = apache.check_rendered(
                    lambda config_dir, snap=snapshot: render_tree(
                        snap, dataclasses.replace(frontend, config_dir=config_dir)
                    ),
                    listen=("127.0.0.1:8080",),
                )
                if not result.ok:
                    raise SystemExit(f"apache2 -t failed:\n{result.output[-2000:]}")
                check = f"{result.seconds:.2f}"
            print(
                f"{size:>6} {mode:<12} {len(queries.captured_queries):>7} {snap_s:>10.3f} {render_s:>9.3f} "
                f"{total:>8.3f} {len(tree):>6} {size_bytes:>10} {check:>12}"
                f"   (median total {median:.3f} s; setup {setup:.1f} s; revision {tree_digest(tree)[:12]})"
            )
    TMP.cleanup()


if __name__ == "__main__":
    main()
