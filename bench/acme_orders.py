"""ACME benchmark: a site created through the billing API -> its certificate valid and served over verified
HTTPS (SNI, pebble's root only) on every front-end, with the panel's own processes and default settings.
(Not bench/acme.py: run as a script, that name would shadow certbot's `acme` package.)

    .venv/bin/python bench/acme_orders.py [--frontends 3] [--repeat 3] [--burst 20] [--batch SECONDS]
                                          [--parallel N] [--no-wake]

The real stack on loopback: a fresh SQLite database (WAL), N front-ends (each a real sshd + standalone
Apache with mod_ssl, deployed to over SSH), two fake Zope backends, pebble (+ challtestsrv; it validates
http-01 on fe1, the tokens go to every front-end), and the panel's processes as bin/run starts them: the
API under gunicorn, `manage.py deploy_worker` and `manage.py renew_certificates --loop` (the ACME worker,
scan every HOSTPANEL_ACME_SCAN_SECONDS = 60 s, woken the moment a site needs a certificate).

  (a) POST /api/v1/sites/ (tls acme)  -> served over verified HTTPS on all front-ends, --repeat times one
      after the other; where the time went: commit -> order started (the wake), the order, issued -> served
  (b) --burst POSTs at once (8 clients) -> every one served over verified HTTPS on all front-ends; graceful
      reloads per front-end and the ACME worker's deployments (its batches)

--no-wake points the ACME worker at another wake directory: orders then wait for its scan (the old way).
Bounded: every wait has a deadline; every process it starts is stopped; temporary files are removed.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-bench-acme-wake-"))
ENV = {
    "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
    "DATABASE_URL": f"sqlite:///{TMP / 'bench.sqlite3'}",
    "HOSTPANEL_VAR_DIR": str(TMP / "var"),
    "HOSTPANEL_TASKS_BACKEND": "db",
    "HOSTPANEL_AUTO_DEPLOY": "1",
    "HOSTPANEL_API_RATE": "1000000/min",
    "HOSTPANEL_LOCAL_TRANSPORT": "0",
    "HOSTPANEL_VERIFY_RELEASE": "1",
    # one key for every process: the ACME worker encrypts the keys the deploy worker decrypts
    "HOSTPANEL_SECRETS_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "LOG_LEVEL": "ERROR",
    "HOSTPANEL_ACME_PARALLEL_ORDERS": "4",  # the production default (the test settings say 1)
}
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from api.services import api_token_create  # noqa: E402
from balancers.models import Deployment  # noqa: E402
from balancers.services import deployment_start  # noqa: E402
from certificates.models import AcmeAttempt, Certificate  # noqa: E402
from deploy.runner import deployment_execute  # noqa: E402
from deploy.transport.pool import POOL  # noqa: E402
from devrig.apache import StandaloneApache  # noqa: E402
from devrig.backends import Backend  # noqa: E402
from devrig.fleet import ACTOR, make_balancer, make_client_key, make_host  # noqa: E402
from devrig.net import free_port, https_get  # noqa: E402
from devrig.pebble import PebbleCA  # noqa: E402
from hostpanel.audit import Actor  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def wait_for(what: str, condition, timeout: float = 60.0, step: float = 0.02) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
    return time.perf_counter() - started


def served(hosts, domain: str, root: str) -> bool:
    """Every front-end answers 200 over HTTPS for domain with a certificate that verifies (pebble's root, SNI)."""
    for host in hosts:
        try:
            if https_get(host.https_port, domain, "/", root_pem=root, timeout=5).status != 200:
                return False
        except (ssl.SSLError, OSError):
            return False
    return True


def worker_deployments() -> int:
    return Deployment.objects.filter(actor=str(Actor.system())).count()


def breakdown(domain: str, served_after: float) -> str:
    """Where one site's time went (the certificate row is created in the site's transaction)."""
    attempt = AcmeAttempt.objects.filter(certificate__site__domain=domain).order_by("pk").first()
    certificate = Certificate.objects.get(site__domain=domain)
    if attempt is None or attempt.finished_at is None:
        return "no attempt"
    started = (attempt.started_at - certificate.created_at).total_seconds()
    order = (attempt.finished_at - attempt.started_at).total_seconds()
    return (
        f"commit->order started {started:.2f} s, order {order:.2f} s, "
        f"issued->served {served_after - started - order:.2f} s"
    )


def run(args) -> dict:
    backends = [Backend(name).start() for name in ("zope1", "zope2")]
    made: list[StandaloneApache] = []
    hosts, procs, ca = [], [], None

    def apache_factory(config_dir, *, listen=(), manager=False):
        apache = StandaloneApache(TMP / f"apache{len(made)}", config_dir, listen=listen, manager=manager)
        made.append(apache)
        return apache

    try:
        key = make_client_key(TMP / "panel")
        settings.HOSTPANEL_SSH_KEY = str(key)
        settings.HOSTPANEL_AUTO_DEPLOY = False  # the set-up queues nothing
        make_balancer(backends)
        for i in range(args.frontends):
            hosts.append(make_host(TMP / f"fe{i + 1}", f"fe{i + 1}", apache_factory, client_key=key))
        ca = PebbleCA(TMP / "pebble", http_port=hosts[0].http_port).start()
        root = ca.root_pem()
        first = deployment_start(actor=ACTOR, enqueue=False)
        if deployment_execute(first.pk).status != "succeeded":
            raise SystemExit("the first deployment failed")
        _token, token = api_token_create(actor=ACTOR, name="bench", scope="billing")
        env = {
            **os.environ,
            **ENV,
            "HOSTPANEL_SSH_KEY": str(key),
            "HOSTPANEL_ACME_DIRECTORY": ca.directory_url,
            "HOSTPANEL_ACME_CA_BUNDLE": ca.ca_bundle,
            "HOSTPANEL_DNS_RESOLVER": ca.dns_resolver,
            "HOSTPANEL_ACME_HTTP_PORT": str(hosts[0].http_port),
            "HOSTPANEL_ACME_EMAIL": "ops@example.net",
        }
        if args.batch is not None:
            env["HOSTPANEL_ACME_BATCH_SECONDS"] = str(args.batch)
        if args.parallel is not None:
            env["HOSTPANEL_ACME_PARALLEL_ORDERS"] = str(args.parallel)
        port = free_port()
        commands = [
            [GUNICORN, "hostpanel.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "error"],
            [PYTHON, "manage.py", "deploy_worker", "-v0"],
            [PYTHON, "manage.py", "renew_certificates", "--loop"],
        ]
        for command in commands:
            own = env
            if args.no_wake and "renew_certificates" in command:
                own = {**env, "HOSTPANEL_WAKE_DIR": str(TMP / "elsewhere")}  # the wake-ups never reach it
            log = open(TMP / f"{Path(command[1]).name}-{len(procs)}.log", "wb")  # noqa: SIM115 - the process's
            procs.append(subprocess.Popen(command, cwd=ROOT, env=own, stdout=log, stderr=log, start_new_session=True))
        api = f"http://127.0.0.1:{port}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"

        def create(domain: str, client: requests.Session = session) -> None:
            r = client.post(f"{api}/sites/", json={"domain": domain, "balancer": "bronze", "plone_path": "/plone/x"})
            assert r.status_code == 201, r.text
            assert r.json().get("tls") == "acme", r.json()

        def api_up() -> bool:
            try:
                return session.get(f"{api}/sites/?page_size=1", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for("gunicorn", api_up, timeout=30)
        wait_for("the ACME worker", lambda: args.no_wake or any((TMP / "var" / "wake" / "acme").glob("*.wake")))
        time.sleep(1.0)  # every worker idle, in its wait
        figures: dict = {"single": [], "breakdowns": []}
        for i in range(args.repeat):
            domain = f"one{i}.example"
            started = time.perf_counter()
            create(domain)
            wait_for(f"{domain} over HTTPS", lambda d=domain: served(hosts, d, root), timeout=180)
            total = time.perf_counter() - started
            figures["single"].append(total)
            figures["breakdowns"].append(breakdown(domain, total))
            wait_for("idle", lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists())
            time.sleep(0.5)

        if not args.burst:
            return figures
        generations = [h.reloads() for h in hosts]
        by_worker = worker_deployments()
        domains = [f"burst{i}.example" for i in range(args.burst)]
        latest: dict[str, float] = {}
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            clients = [requests.Session() for _ in range(8)]
            for client in clients:
                client.headers["Authorization"] = f"Token {token}"
            list(pool.map(lambda n: create(domains[n], clients[n % 8]), range(len(domains))))
        figures["burst_api"] = time.perf_counter() - started
        pending = set(domains)

        def all_served() -> bool:
            for domain in sorted(pending):
                if served(hosts, domain, root):
                    pending.discard(domain)
                    latest[domain] = time.perf_counter() - started
            return not pending

        wait_for("the burst over HTTPS", all_served, timeout=300, step=0.05)
        figures["burst"] = time.perf_counter() - started
        figures["burst_first"] = min(latest.values())
        wait_for("idle", lambda: not Deployment.objects.filter(status__in=["queued", "running"]).exists())
        figures["burst_gracefuls"] = {h.name: h.reloads() - g for h, g in zip(hosts, generations, strict=True)}
        figures["burst_batches"] = worker_deployments() - by_worker
        figures["burst_failed"] = Certificate.objects.filter(site__domain__in=domains).exclude(status="valid").count()
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
            if host.sshd is not None:
                host.sshd.stop()
        if ca is not None:
            ca.stop()
        for backend in backends:
            backend.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frontends", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--batch", type=float, default=None, help="HOSTPANEL_ACME_BATCH_SECONDS (default: 3)")
    parser.add_argument("--parallel", type=int, default=None, help="HOSTPANEL_ACME_PARALLEL_ORDERS (default: 4)")
    parser.add_argument("--no-wake", action="store_true", help="the ACME worker only scans (every 60 s)")
    args = parser.parse_args()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")  # the bench, gunicorn and the workers share the file
    call_command("migrate", verbosity=0)
    try:
        f = run(args)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    single = f["single"]
    print(f"\n== ACME on {args.frontends} front-ends (sshd + Apache with mod_ssl each), pebble on loopback")
    print(
        f"load average at the end: {os.getloadavg()[0]:.2f} (1 min); wake: {'off' if args.no_wake else 'on'}; "
        f"parallel orders: {args.parallel or 4}; batch window: {args.batch if args.batch is not None else 3} s"
    )
    print(
        f"(a) API create -> served over verified HTTPS on all: median {statistics.median(single):.2f} s "
        f"(min {min(single):.2f}, max {max(single):.2f}, n={len(single)})"
    )
    for line in f["breakdowns"]:
        print(f"    {line}")
    if not args.burst:
        return
    print(
        f"(b) {args.burst} creates at once -> all served: {f['burst']:.2f} s (first {f['burst_first']:.2f} s; "
        f"API answered all in {f['burst_api']:.2f} s); {args.burst / f['burst'] * 60:.0f} orders/minute, "
        f"{f['burst_failed']} not valid"
    )
    print(f"    ACME worker deployments (batches): {f['burst_batches']}")
    print(f"    graceful reloads per front-end: {f['burst_gracefuls']}")


if __name__ == "__main__":
    main()
