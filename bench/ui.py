"""Server time of the busiest staff pages with 5,000 sites (Django test client, 50 requests each).

Usage: DEBUG=1 /work/main/.venv/bin/python bench/ui.py [--sites 5000] [--requests 50]
Runs against a throwaway database (SQLite in a temp dir, or DATABASE_URL's server with a test
database), never the development database. Target: median under 50 ms for each page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostpanel.test_settings")

import django

django.setup()

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from balancers.models import Balancer
from sites.models import Site, SiteAlias


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    settings.DEBUG = False
    if connection.vendor == "postgresql":
        # a database of its own, so the benchmark never collides with a test run on the same server
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_ui_{os.getpid()}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        call_command("seed_demo", sites=0, no_user=True, verbosity=0)
        balancers = list(Balancer.objects.all())
        t0 = time.perf_counter()
        sites = Site.objects.bulk_create(
            Site(
                domain=f"client{i:05d}.example.com",
                balancer=balancers[i % len(balancers)],
                plone_path=f"/plone/client{i}",
                customer_ref=f"CUST-{i:05d}",
                status="suspended" if i % 50 == 0 else "active",
            )
            for i in range(args.sites)
        )
        SiteAlias.objects.bulk_create(SiteAlias(site=s, name="www." + s.domain) for s in sites)
        setup = time.perf_counter() - t0
        print(f"{Site.objects.count()} sites, {SiteAlias.objects.count()} aliases (setup {setup:.1f} s)")

        user = get_user_model().objects.create_superuser("bench", password="bench-pw-123")
        client = Client()
        client.force_login(user)
        bronze = Balancer.objects.get(name="bronze")
        pages = {
            "baseline: Zope servers (3 rows)": "/zope-servers/",
            "sites list": "/sites/",
            "sites list, sorted by balancer, page 40": "/sites/?sort=-balancer&page=40",
            "search (q=client0123)": "/sites/?q=client0123",
            "search by alias (q=www.client04)": "/sites/?q=www.client04",
            "balancer detail": bronze.get_absolute_url(),
            # issue #28: the dashboard with its summary band, a site page with "live, and where", deployments
            "dashboard (summary band)": "/",
            "site page (live, and where)": Site.objects.order_by("pk").first().get_absolute_url(),
            "deployments list (why)": "/deployments/",
        }
        # cpu: this process's CPU time per request (less sensitive to other load on the machine)
        print(f"{'page':42} {'median':>8} {'p90':>8} {'max':>8} {'cpu med':>8} {'queries':>8}")
        for label, url in pages.items():
            assert client.get(url).status_code == 200  # warm-up
            times, cpu = [], []
            for _ in range(args.requests):
                start, start_cpu = time.perf_counter(), time.process_time()
                response = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                assert response.status_code == 200
            with CaptureQueriesContext(connection) as ctx:
                client.get(url)
            times.sort()
            p90 = times[int(len(times) * 0.9) - 1]
            median = statistics.median(times)
            queries = len(ctx.captured_queries)
            cpu_median = statistics.median(cpu)
            print(f"{label:42} {median:6.1f}ms {p90:6.1f}ms {times[-1]:6.1f}ms {cpu_median:6.1f}ms {queries:8}")
        print(f"database: {connection.vendor}; load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
