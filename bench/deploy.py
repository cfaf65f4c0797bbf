"""Deploy benchmark: how long a change made through the billing API takes to be live on every front-end.

    .venv/bin/python bench/deploy.py [--sites 1000 10000] [--repeat 5] [--burst 100] [--interval 0.05]

For each site count it builds the real stack on loopback: a fresh SQLite database (WAL; or the empty
database HOSTPANEL_BENCH_DATABASE_URL names, e.g. PostgreSQL), seed_demo with
that many sites, 3 front-ends (each a real sshd + standalone Apache, deployed to over SSH), three fake
Zope backends, the API under gunicorn and `manage.py deploy_worker` (the embedded default queue; woken
the moment a deployment is queued). Then, every figure from the API call to the answer through ALL 3 front-ends:

  (a) POST /api/v1/sites/       -> the new site answers from a backend on all 3   (map-only change)
  (b) POST .../suspend/         -> 503 from Apache on all 3                       (map-only change)
  (c) a burst of --burst POSTs  -> all of them answer on all 3; map uploads per front-end
  (d) a config change (a balancer added through the API) -> configtest + graceful on all 3
  and the graceful reloads Apache did during (a)-(c) (its generation count: must stay 0), the
  `apache2 -t` time and the Apache processes' memory with the deployed config.

Bounded: every wait has a deadline; every process it starts is stopped; temporary files are removed.

Seen on 2 cores (`--sites 1000 10000 --repeat 15 --burst 100`, 2026-12-01): create -> live 0.139 s at
1,000 sites and 0.132 s at 10,000; suspend 0.130 / 0.129 s; 100 creates 1.60 / 1.65 s, 2 map uploads per
front-end; 0 gracefuls; a config change 1.23 / 1.35 s; apache2 -t 0.018 / 0.021 s; Apache RSS 16 / 17 MB.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-bench-deploy-"))
ENV = {
    "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
    # a fresh SQLite database, or HOSTPANEL_BENCH_DATABASE_URL (e.g. an empty PostgreSQL database: it is
    # migrated and flushed)
    "DATABASE_URL": os.environ.get("HOSTPANEL_BENCH_DATABASE_URL") or f"sqlite:///{TMP / 'bench.sqlite3'}",
    "HOSTPANEL_VAR_DIR": str(TMP / "var"),
    "HOSTPANEL_TASKS_BACKEND": "db",
    "HOSTPANEL_AUTO_DEPLOY": "1",
    "HOSTPANEL_API_RATE": "1000000/min",
    "HOSTPANEL_LOCAL_TRANSPORT": "0",
    "LOG_LEVEL": "ERROR",
}
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from balancers.models import Deployment, DeploymentHost, ZopeServer  # noqa: E402
from balancers.services import deployment_start  # noqa: E402
from deploy.runner import deployment_execute  # noqa: E402
from deploy.transport.pool import POOL  # noqa: E402
from devrig.apache import StandaloneApache  # noqa: E402
from devrig.backends import Backend  # noqa: E402
from devrig.fleet import ACTOR, make_client_key, make_host  # noqa: E402
from devrig.net import free_port, http_get  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def wait_for(what: str, condition, timeout: float = 60.0, step: float = 0.005) -> float:
    started = time.perf_counter()
    deadline = started + timeout
    while not condition():
        if time.perf_counter() > deadline:
            recent = DeploymentHost.objects.order_by("-pk")[:6]
            rows = "\n".join(
                f"  #{r.deployment_id} {r.frontend_name} {r.status} {r.change_kind} {r.error[:300]}" for r in recent
            )
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}; latest deployment hosts:\n{rows}")
        time.sleep(step)
    return time.perf_counter() - started


def answer(host, domain: str) -> tuple[int, str]:
    try:
        got = http_get(host.http_port, "/", host=domain, timeout=5)
    except OSError:
        return 0, ""
    return got.status, got.headers.get("X-Backend", "")


def apache_memory_mb(apache: StandaloneApache) -> float:
    """RSS of the Apache parent and its children, in MB (from /proc)."""
    parent = apache.pid()
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().split()
            if int(entry.name) == parent or int(stat[3]) == parent:
                total += int(stat[23]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e6


def run_one(sites: int, args) -> dict:
    call_command("flush", interactive=False, verbosity=0) if sites != args.sites[0] else None
    call_command("seed_demo", sites=sites, no_user=True, verbosity=0)
    token = call_command_output("create_api_token", f"bench-{secrets.token_hex(3)}", "--scope", "operator")
    backends = [Backend(name).start() for name in ("zope1", "zope2", "backup")]
    for backend in backends:
        ZopeServer.objects.filter(name=backend.name).update(port=backend.port)
    key = make_client_key(TMP / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    made: list[StandaloneApache] = []
    hosts, procs = [], []
    base_dir = TMP / f"n{sites}"

    def apache_factory(config_dir, *, listen=(), manager=False):
        apache = StandaloneApache(base_dir / f"apache{len(made)}", config_dir, listen=listen, manager=manager)
        made.append(apache)
        return apache

    try:
        settings.HOSTPANEL_AUTO_DEPLOY = False  # the front-ends' creation must not queue deployments here
        for name in ("fe1", "fe2", "fe3"):
            hosts.append(make_host(base_dir / name, name, apache_factory, client_key=key))
        Deployment.objects.filter(status="queued").delete()
        t0 = time.perf_counter()
        first = deployment_start(actor=ACTOR, enqueue=False)
        deployment_execute(first.pk)
        first.refresh_from_db()
        if first.status != "succeeded":
            raise SystemExit(f"first deploy {first.status}: {list(first.hosts.values_list('frontend_name', 'error'))}")
        full = time.perf_counter() - t0
        settings.HOSTPANEL_AUTO_DEPLOY = True
        env = {**os.environ, **ENV, "HOSTPANEL_SSH_KEY": str(key)}
        port = free_port()
        procs.append(
            subprocess.Popen(
                [GUNICORN, "hostpanel.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "error"],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        )
        procs.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "deploy_worker", "--interval", str(args.interval), "-v0"],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        )
        api = f"http://127.0.0.1:{port}/api/v1"
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "s"):
                local.s = requests.Session()
                local.s.headers["Authorization"] = f"Token {token}"
            return local.s

        wait_for("gunicorn", lambda: _answers(f"{api}/sites/?page_size=1", session), timeout=30, step=0.1)
        generations = [h.apache.generations() for h in hosts]
        figures: dict = {"sites": sites, "full_deploy": full}

        def live_on_all(domain: str) -> bool:
            return all(answer(h, domain)[1] for h in hosts)

        added, suspended, breakdown = [], [], []
        for i in range(args.repeat):
            domain = f"bench-{sites}-{i}.example.net"
            t = time.perf_counter()
            r = session().post(f"{api}/sites/", json={"domain": domain, "balancer": "bronze", "plone_path": f"/p/n{i}"})
            assert r.status_code == 201, r.text
            wait_for(f"{domain} on all front-ends", lambda d=domain: live_on_all(d))
            added.append(time.perf_counter() - t)
            breakdown.append(_breakdown(domain))
            time.sleep(0.3)  # let the worker finish the deployment (its probes) before the next change
            t = time.perf_counter()
            r = session().post(f"{api}/sites/{domain}/suspend/", json={"reason": "bench"})
            assert r.status_code == 200, r.text
            wait_for(f"{domain} suspended", lambda d=domain: all(answer(h, d)[0] == 503 for h in hosts))
            suspended.append(time.perf_counter() - t)
            time.sleep(0.3)
        figures["add"], figures["suspend"] = added, suspended
        figures["breakdown"] = breakdown[len(breakdown) // 2]

        wait_for(
            "the worker to go idle", lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists()
        )
        before_burst = Deployment.objects.order_by("-pk").values_list("pk", flat=True).first()
        domains = [f"burst-{sites}-{i}.example.net" for i in range(args.burst)]
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(
                pool.map(
                    lambda d: (
                        session()
                        .post(f"{api}/sites/", json={"domain": d, "balancer": "silver", "plone_path": "/p/burst"})
                        .status_code
                    ),
                    domains,
                )
            )
        figures["burst_api"] = time.perf_counter() - t  # every POST answered (201)
        assert codes == [201] * len(domains), codes
        wait_for("the burst on all front-ends", lambda: all(live_on_all(d) for d in domains), timeout=120, step=0.02)
        figures["burst"] = time.perf_counter() - t
        wait_for(
            "the worker to go idle", lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists()
        )
        rows = DeploymentHost.objects.filter(deployment_id__gt=before_burst, change_kind="map")
        figures["burst_uploads"] = {h.name: rows.filter(frontend_name=h.name).count() for h in hosts}
        figures["gracefuls"] = sum(h.apache.generations() - g for h, g in zip(hosts, generations, strict=True))
        figures["kinds"] = sorted(
            set(DeploymentHost.objects.exclude(deployment_id=first.pk).values_list("change_kind", flat=True))
        )

        # A config change: a new balancer (its <Proxy> block) -> configtest + graceful on every front-end.
        generations = [h.apache.generations() for h in hosts]
        t = time.perf_counter()
        r = session().post(f"{api}/balancers/", json={"name": f"gold{secrets.token_hex(2)}"})
        assert r.status_code == 201, r.text
        wait_for(
            "the config change",
            lambda: all(h.apache.generations() > g for h, g in zip(hosts, generations, strict=True)),
            timeout=120,
        )
        wait_for(
            "the worker to go idle", lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists()
        )
        figures["config_change"] = time.perf_counter() - t
        figures["config_kind"] = list(DeploymentHost.objects.order_by("-pk").values_list("change_kind", flat=True)[:3])

        checks = [hosts[0].apache.configtest().seconds for _ in range(3)]
        figures["configtest"] = statistics.median(checks)
        figures["memory_mb"] = apache_memory_mb(hosts[0].apache)
        figures["map_bytes"] = (hosts[0].config_dir / "routes.map").stat().st_size
        figures["overlay_bytes"] = (hosts[0].config_dir / "routes-recent.map").stat().st_size
        return figures
    finally:
        POOL.close_all()
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        for apache in made:
            apache.stop()
        for host in hosts:
            host.sshd.stop()
        for backend in backends:
            backend.stop()


def _breakdown(domain: str) -> str:
    """Where one change's time went: the API commit to the worker's claim, the deployment, each host's stages."""
    deployment = Deployment.objects.order_by("-pk").first()
    for _ in range(100):  # the worker records the end just after the hosts answer
        deployment.refresh_from_db()
        if deployment.finished_at:
            break
        time.sleep(0.02)
    parts = [
        f"queued->claimed {(deployment.started_at - deployment.created_at).total_seconds():.3f} s",
        f"claimed->finished {(deployment.finished_at - deployment.started_at).total_seconds():.3f} s",
    ]
    for host in deployment.hosts.all():
        stages = [line for line in host.output.splitlines() if line.startswith("stage seconds:")]
        parts.append(f"{host.frontend_name} {host.duration or 0:.3f} s ({stages[-1][15:] if stages else '?'})")
    return "; ".join(parts)


def idle() -> bool:
    return not Deployment.objects.filter(status__in=["queued", "running"]).exists()


def _answers(url: str, session) -> bool:
    try:
        return session().get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def call_command_output(*args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **ENV, "HOSTPANEL_SSH_KEY": str(settings.HOSTPANEL_SSH_KEY or "")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="deploy_worker --interval (its fallback poll)")
    args = parser.parse_args()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")  # the bench, gunicorn and the worker share the file
    call_command("migrate", verbosity=0)
    results = []
    try:
        for sites in args.sites:
            figures = run_one(sites, args)
            results.append(figures)
            report(figures, args)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    if len(results) > 1:
        a, b = (statistics.median(r["add"]) for r in (results[0], results[-1]))
        print(
            f"\nflat in N: add median {a:.3f} s at {results[0]['sites']} vs {b:.3f} s at {results[-1]['sites']} "
            f"({(b / a - 1) * 100:+.0f} %)"
        )


def report(f: dict, args) -> None:
    def stats(values):
        return (
            f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"
        )

    print(f"\n== {f['sites']} sites, 3 front-ends (sshd + Apache each), deploy_worker (woken on commit)")
    print(f"first full deploy (config):             {f['full_deploy']:.2f} s")
    print(f"(a) API create -> live on all 3:        {stats(f['add'])}")
    print(f"    the median one: {f['breakdown']}")
    print(f"(b) API suspend -> 503 on all 3:        {stats(f['suspend'])}")
    print(
        f"(c) {args.burst} creates in a burst -> all live: {f['burst']:.2f} s"
        f" (the API answered all in {f['burst_api']:.2f} s)"
    )
    print(f"    map uploads per front-end in the burst: {f['burst_uploads']}")
    print(f"    graceful reloads during (a)-(c):    {f['gracefuls']}   change kinds seen: {f['kinds']}")
    print(f"(d) config change (balancer added):     {f['config_change']:.2f} s, kinds {f['config_kind']}")
    print(
        f"apache2 -t with this config:            {f['configtest']:.3f} s; Apache RSS {f['memory_mb']:.0f} MB; "
        f"routes.map {f['map_bytes']:,} bytes, "
        f"routes-recent.map {f['overlay_bytes']:,} bytes"
    )


if __name__ == "__main__":
    main()
