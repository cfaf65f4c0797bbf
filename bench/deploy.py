"""Deploy benchmark: 1,000 sites, 2 front-ends on loopback (each a real sshd + standalone Apache).

    /work/main/.venv/bin/python bench/deploy.py [--sites 1000] [--repeat 3]

Times (a) the first full deploy, (b) a deploy with no change, (c) one site added — from the
service call (site_create, with automatic deploy on) to the site answering through both Apaches —
and prints the bytes uploaded. Targets: (b) < 0.5 s, (c) < 1 s.
Uses a throw-away SQLite database (or DATABASE_URL if set) and temporary directories.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-bench-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP / 'bench.sqlite3'}")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"
os.environ["HOSTPANEL_VAR_DIR"] = str(TMP / "var")
os.environ["HOSTPANEL_TASKS_BACKEND"] = "immediate"  # the deploy runs when the change commits
os.environ["HOSTPANEL_AUTO_DEPLOY"] = "0"

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_databases

from balancers import services as balancer_services
from balancers.dev.apache import StandaloneApache
from balancers.dev.backends import Backend
from balancers.models import Balancer, DeploymentHost, ZopeServer
from balancers.services import deployment_start
from sites import services as site_services
from tests.factories import ACTOR
from tests.harness.farm import make_client_key, make_host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--signal-reload",
        action="store_true",
        help="reload_command = kill -USR1 <pid> instead of apache2 -k graceful (which parses the whole config again)",
    )
    args = parser.parse_args()

    tmp = TMP
    if connection.vendor == "postgresql":
        print("PostgreSQL: using a fresh test database", file=sys.stderr)
        setup_databases(verbosity=0, interactive=False)
    else:
        call_command("migrate", verbosity=0)

    started: list = []
    hosts = []
    try:
        backends = [Backend(name).start() for name in ("zope1", "zope2", "backup")]
        started += backends
        call_command("seed_demo", sites=args.sites, no_user=True, verbosity=0)
        for backend in backends:
            ZopeServer.objects.filter(name=backend.name).update(port=backend.port)
        key = make_client_key(tmp / "panel")
        settings.HOSTPANEL_SSH_KEY = str(key)

        made: list[StandaloneApache] = []

        def apache_factory(config_dir, *, listen=(), manager=False):
            apache = StandaloneApache(tmp / f"apache{len(made)}", config_dir, listen=listen, manager=manager)
            made.append(apache)
            return apache

        try:
            for name in ("fe1", "fe2"):
                hosts.append(make_host(tmp / name, name, key, apache_factory))
                if args.signal_reload:
                    host = hosts[-1]
                    balancer_services.frontend_update(
                        host.frontend, actor=ACTOR, reload_command=f"kill -USR1 $(cat {host.apache.pid_file})"
                    )
            sites = (
                Balancer.objects.get(name="bronze").sites.count() + Balancer.objects.get(name="silver").sites.count()
            )
            print(f"{sites} sites, 2 front-ends (sshd + Apache each) on 127.0.0.1\n")

            def run(label: str):
                t0 = time.perf_counter()
                deployment = deployment_start(actor=ACTOR)
                elapsed = time.perf_counter() - t0
                deployment.refresh_from_db()
                rows = list(DeploymentHost.objects.filter(deployment=deployment))
                if deployment.status != "succeeded":
                    for host in hosts:
                        print(f"--- {host.name} error log:\n{host.apache.error_log()[-3000:]}", file=sys.stderr)
                    raise SystemExit(
                        f"{label} deploy {deployment.status}: {[(r.frontend_name, r.error) for r in rows]}"
                    )
                return elapsed, sum(r.bytes_uploaded for r in rows), sum(r.files_uploaded for r in rows)

            a, a_bytes, a_files = run("first")
            print(f"(a) first full deploy:     {a:6.3f} s   {a_files} files, {a_bytes:,} bytes uploaded")

            b_times = []
            for _ in range(args.repeat):
                b, b_bytes, b_files = run("no change")
                b_times.append(b)
            print(
                f"(b) no-change deploy:      {statistics.median(b_times):6.3f} s   (median of {len(b_times)}; "
                f"min {min(b_times):.3f}, max {max(b_times):.3f}) {b_files} files, {b_bytes} bytes uploaded"
            )

            settings.HOSTPANEL_AUTO_DEPLOY = True
            c_times, c_bytes_list, panel_times = [], [], []
            bronze = Balancer.objects.get(name="bronze")
            for i in range(args.repeat):
                domain = f"bench-new-{i}.example"
                t0 = time.perf_counter()
                site = site_services.site_create(
                    actor=ACTOR, domain=domain, balancer=bronze, plone_path=f"/plone/new{i}"
                )
                for host in hosts:
                    assert host.backend_for(domain, timeout=60) is not None, f"{domain} never answered on {host.name}"
                c_times.append(time.perf_counter() - t0)
                rows = DeploymentHost.objects.filter(deployment=site.deployment)
                assert site.deployment.__class__.objects.get(pk=site.deployment.pk).status == "succeeded"
                c_bytes_list.append((sum(r.bytes_uploaded for r in rows), sum(r.files_uploaded for r in rows)))
                panel_side = 0.0
                for row in rows:
                    line = [x for x in row.output.splitlines() if x.startswith("stage seconds:")]
                    print(f"    (c) run {i + 1} {row.frontend_name}: {line[-1] if line else '?'}")
                    stages = dict(p.rsplit(" ", 1) for p in line[-1].split(": ", 1)[1].split(", ")) if line else {}
                    panel_side = max(panel_side, sum(float(v) for k, v in stages.items() if k != "verify"))
                panel_times.append(panel_side)
            c_bytes, c_files = c_bytes_list[-1]
            print(
                f"(c) one site added:        {statistics.median(c_times):6.3f} s   (median of {len(c_times)}; "
                f"min {min(c_times):.3f}, max {max(c_times):.3f}; service call -> answering through both Apaches) "
                f"{c_files} files, {c_bytes:,} bytes uploaded"
            )
            print(
                f"    of which the panel's stages up to the reload signal (slowest host): "
                f"{statistics.median(panel_times):.3f} s median; the rest is Apache's graceful restart"
            )
            print(
                f"\ntargets: (b) < 0.5 s {'OK' if statistics.median(b_times) < 0.5 else 'MISSED'}, "
                f"(c) < 1 s {'OK' if statistics.median(c_times) < 1 else 'MISSED'}"
            )
        finally:
            for apache in made:
                apache.stop()
    finally:
        for host in hosts:
            host.sshd.stop()
        for backend in started:
            backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
