"""Post-deploy probes benchmark: N sites behind one real standalone Apache (local transport) and two fake
Zope backends on loopback.

    .venv/bin/python bench/probes.py [--sites 1000] [--repeat 3] [--parallelism 16]

Prints (a) probe throughput (every site probed once through Apache, HOSTPANEL_PROBE_PARALLELISM in flight),
(b) the time a one-site deployment takes with probes off and on (the changed site + HOSTPANEL_PROBE_SAMPLE=20
others, before and after the reload) and the difference, (c) a deployment that changes every site file
(the sticky cookie's name) with probes on: every site probed twice.
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
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-bench-probes-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP / 'bench.sqlite3'}")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"
os.environ["HOSTPANEL_VAR_DIR"] = str(TMP / "var")
os.environ["HOSTPANEL_TASKS_BACKEND"] = "immediate"
os.environ["HOSTPANEL_AUTO_DEPLOY"] = "0"

import django

django.setup()

from django.conf import settings
from django.core.management import call_command

from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd, ZopeServer
from balancers.services import deployment_start
from deploy.probes import run_probes, site_address
from deploy.runner import deployment_execute
from devrig.apache import StandaloneApache
from devrig.backends import Backend
from devrig.fleet import ACTOR
from devrig.net import free_port
from sites import services as site_services
from sites.models import Site


def deploy() -> tuple[float, str]:
    started = time.perf_counter()
    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    elapsed = time.perf_counter() - started
    host = deployment.hosts.get()
    if deployment.status != "succeeded":
        raise SystemExit(f"deploy {deployment.status}: {host.error}")
    return elapsed, host.output.splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    settings.HOSTPANEL_PROBE_PARALLELISM = args.parallelism
    settings.HOSTPANEL_PROBE_TIMEOUT = 60.0
    call_command("migrate", verbosity=0)
    backends = [Backend(name).start() for name in ("zope1", "zope2", "backup")]
    apache = None
    try:
        call_command("seed_demo", sites=args.sites, no_user=True, verbosity=0)
        for backend in backends:
            ZopeServer.objects.filter(name=backend.name).update(port=backend.port)
        port = free_port()
        config_dir = TMP / "fe1" / "hostpanel"
        initial = TMP / "fe1" / "hostpanel.releases" / "initial"  # the admin's first release (README "Roles")
        initial.mkdir(parents=True)
        (initial / "hostpanel.conf").write_text("# nothing deployed yet\n")
        config_dir.symlink_to(initial)
        apache = StandaloneApache(TMP / "apache", config_dir, listen=[f"127.0.0.1:{port}"], manager=True)
        apache.write_config()
        apache.start()
        balancer_services.frontend_create(
            actor=ACTOR,
            name="fe1",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            configtest_command=f"{apache.binary} -t -f {apache.conf}",
            reload_command=f"{apache.binary} -k graceful -f {apache.conf}",
            balancer_manager_url=apache.manager_url,
            http_listen=f"127.0.0.1:{port}",
        )
        domains = list(Site.objects.values_list("domain", flat=True))
        print(f"{len(domains)} sites, 1 front-end (standalone Apache, local transport) on 127.0.0.1\n")
        settings.HOSTPANEL_PROBES = False
        deploy()

        address = site_address(FrontEnd.objects.get(name="fe1"))
        rates = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            answers = run_probes(address, domains, timeout=120, parallelism=args.parallelism)
            rates.append(len(domains) / (time.perf_counter() - t0))
            assert all(a.status == 200 for a in answers.values()), {a.status for a in answers.values()}
        print(f"(a) probe throughput:      {statistics.median(rates):7.0f} probes/s  (median of {args.repeat}, "
              f"{args.parallelism} in flight, every site through Apache to a backend)")  # fmt: skip

        bronze = Balancer.objects.get(name="bronze")
        timings = {}
        for probes in (False, True):
            settings.HOSTPANEL_PROBES = probes
            times, lines = [], []
            for i in range(args.repeat):
                site = Site.objects.filter(balancer=bronze).order_by("domain")[i + (args.repeat if probes else 0)]
                site_services.site_update(site, actor=ACTOR, plone_path=f"/plone/bench{i}{int(probes)}")
                elapsed, line = deploy()
                times.append(elapsed)
                lines.append(line)
            timings[probes] = statistics.median(times)
            state = "on " if probes else "off"
            print(f"(b) one site changed, probes {state}: {timings[probes]:6.3f} s median; {lines[-1]}")
        print(f"    added by the probes (1 changed + {settings.HOSTPANEL_PROBE_SAMPLE} sampled, before and after): "
              f"{timings[True] - timings[False]:+.3f} s")  # fmt: skip

        settings.HOSTPANEL_PROBES = True
        balancer_services.balancer_update(bronze, actor=ACTOR, sticky_cookie="BENCHID")
        balancer_services.balancer_update(Balancer.objects.get(name="silver"), actor=ACTOR, sticky_cookie="BENCHID")
        elapsed, line = deploy()
        print(f"(c) every site changed, probes on: {elapsed:6.3f} s; {line}")
    finally:
        if apache is not None:
            apache.stop()
        for backend in backends:
            backend.stop()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
