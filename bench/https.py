"""HTTPS benchmark: ACME issuance on two front-ends, the renewal scan, and Apache with 1,000 HTTPS vhosts.

    .venv/bin/python bench/https.py [--part issue|scan|apache|scale|edge|all] [--sites 100] [--certificates 10000]
                                   [--vhosts 1000] [--scale 1000 10000] [--repeat 3] [--profile] [--http-only]
                                   [--tls-edge apache|nginx]

issue:  N sites on 2 front-ends (each a real sshd + standalone Apache with mod_ssl) get certificates from
        pebble (validating on fe1's HTTP port; the tokens go to both front-ends) through the renewal scan
        (certificates.tasks.renewal_scan, HOSTPANEL_ACME_SCAN_LIMIT per scan, every scan's certificates
        live in one deployment): wall time, orders/minute, graceful reloads per front-end.
scan:   the renewal scan's selector over M certificates (a tenth due): queries and seconds.
apache: `apache2 -t`, start and graceful of V HTTPS sites (each its own certificate and key) against V
        HTTP-only sites: seconds and memory (RSS and PSS of all Apache processes after the graceful).
scale:  S HTTPS sites (each its own ECDSA P-256 certificate, devrig.pki) on 3 front-ends (each a real sshd +
        standalone Apache with mod_ssl, 2 x 16 event workers), deployed through the real runner: the first
        deploy; +1 HTTP site -> answering on all 3 (map-only: no reload), R times one after the other, then R
        times each once the front-ends finished their background work (deploy.swap); +1 HTTPS site with its certificate
        (created, certificate uploaded) -> served over verified HTTPS on all 3, and the gracefuls it cost;
        one graceful of a front-end -> the new generation serving; Apache RSS of one front-end (all its
        processes); `apache2 -t` time and peak RSS. Not part of `all` (minutes at 10,000: run it alone).
        --tls-edge nginx: the same with every front-end behind an nginx TLS edge (FrontEnd.tls_edge, devrig.nginx:
        certificates read per handshake, Apache behind it on loopback): also the nginx reloads per change, and
        nginx's RSS and `nginx -t` time beside Apache's.
edge:   the measured alternative (not in the product): Debian's HAProxy terminating TLS with E certificates
        (ECDSA P-256, one crt-list) in front of a backend on loopback: start time and RSS, `haproxy -c` time,
        and one certificate added at run time (written to disk + new/set/commit ssl cert + add ssl crt-list,
        no reload) -> served over verified HTTPS. Not part of `all`.
Uses a throw-away SQLite database (or DATABASE_URL if set) and temporary directories.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-bench-acme-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP / 'bench.sqlite3'}")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"
os.environ["HOSTPANEL_VAR_DIR"] = str(TMP / "var")
os.environ["HOSTPANEL_TASKS_BACKEND"] = "immediate"  # a deployment runs when its change commits
os.environ["HOSTPANEL_AUTO_DEPLOY"] = "0"

import django

django.setup()

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, setup_databases
from django.utils import timezone

from balancers.models import Balancer, Deployment, FrontEnd, ZopeServer
from balancers.services import deployment_start
from certificates.models import Certificate
from certificates.selectors import certificates_due
from certificates.services import certificate_set_custom
from certificates.tasks import renewal_scan
from deploy.swap import SPARE_PREFIX
from deploy.transport.protocol import TRASH_PREFIX
from devrig import pki
from devrig.apache import StandaloneApache, write_tree
from devrig.backends import Backend
from devrig.fleet import ACTOR, add_https_sites, add_site, make_balancer, make_client_key, make_host
from devrig.haproxy import HaproxyEdge, haproxy_binary
from devrig.net import free_ports, https_get
from devrig.nginx import StandaloneNginx
from devrig.pebble import PebbleCA
from rendering.render import render_tree
from rendering.snapshot import CertificateRecord, FrontEndRecord, SiteRecord, Snapshot, load_snapshot
from sites import services as site_services
from sites.models import Site


def issue(sites: int) -> None:
    backends = [Backend(name).start() for name in ("zope1", "zope2")]
    made: list[StandaloneApache] = []
    hosts, ca = [], None

    def apache_factory(config_dir, *, listen=(), manager=False):
        apache = StandaloneApache(TMP / f"apache{len(made)}", config_dir, listen=listen, manager=manager)
        made.append(apache)
        return apache

    try:
        key = make_client_key(TMP / "panel")
        settings.HOSTPANEL_SSH_KEY = str(key)
        balancer = make_balancer(backends)
        for name in ("fe1", "fe2"):
            hosts.append(make_host(TMP / name, name, apache_factory, client_key=key))
        ca = PebbleCA(TMP / "pebble", http_port=hosts[0].http_port).start()
        settings.HOSTPANEL_ACME_DIRECTORY = ca.directory_url
        settings.HOSTPANEL_ACME_CA_BUNDLE = ca.ca_bundle
        settings.HOSTPANEL_DNS_RESOLVER = ca.dns_resolver
        settings.HOSTPANEL_ACME_HTTP_PORT = hosts[0].http_port
        for i in range(sites):
            add_site(f"site{i:04d}.example", balancer, f"/plone/site{i}")
        assert deployment_start(actor=ACTOR).status != "failed"
        settings.HOSTPANEL_AUTO_DEPLOY = True
        before = {h.name: h.reloads() for h in hosts}
        deployments = Deployment.objects.count()
        started = time.perf_counter()
        scans = issued = 0
        failures: list[str] = []
        while Certificate.objects.filter(next_attempt_at__lte=timezone.now(), serial="").exists() and scans < 20:
            result = renewal_scan(settings.HOSTPANEL_ACME_SCAN_LIMIT)
            scans += 1
            issued += result.issued
            failures += result.failures
        wall = time.perf_counter() - started
        reloads = {h.name: h.reloads() - before[h.name] for h in hosts}
        print(
            f"issue: {issued}/{sites} certificates on 2 front-ends in {wall:.1f} s "
            f"({issued / wall * 60:.0f} orders/minute), {scans} scans of at most "
            f"{settings.HOSTPANEL_ACME_SCAN_LIMIT}, {Deployment.objects.count() - deployments} deployments, "
            f"graceful reloads per front-end: {reloads}"
        )
        for failure in failures[:5]:
            print(f"  failed: {failure}")
    finally:
        for apache in made:
            apache.stop()
        for host in hosts:
            host.sshd.stop()
        if ca is not None:
            ca.stop()
        for backend in backends:
            backend.stop()


def scan(count: int) -> None:
    balancer = Balancer.objects.create(name="scale")
    Site.objects.bulk_create(
        [Site(domain=f"s{i}.example.com", balancer=balancer, plone_path="/p", tls="acme") for i in range(count)],
        batch_size=1000,
    )
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    Certificate.objects.bulk_create(
        [
            Certificate(site=s, next_attempt_at=now - hour if i % 10 == 0 else now + hour)
            for i, s in enumerate(Site.objects.filter(balancer=balancer).order_by("pk"))
        ],
        batch_size=1000,
    )
    for label, limit in (("all due", None), ("one scan's worth", settings.HOSTPANEL_ACME_SCAN_LIMIT)):
        best = float("inf")
        for _ in range(3):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                due = certificates_due(now, limit=limit)
                domains = [c.site.domain for c in due]
                best = min(best, time.perf_counter() - started)
        print(
            f"scan: {count} certificates, {label}: {len(domains)} due in {best * 1000:.1f} ms, "
            f"{len(queries.captured_queries)} query"
        )


def _processes(parent: int) -> list[int]:
    pids = [parent]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _memory(parent: int) -> tuple[float, float]:
    """(RSS, PSS) in MB summed over Apache's parent and children."""
    rss = pss = 0
    for pid in _processes(parent):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def apache_vhosts(count: int) -> None:
    root = pki.root("Bench Root")
    intermediate = pki.intermediate(root)
    chain = pki.pem(intermediate.cert)
    sites_http = [
        SiteRecord(domain=f"site{i:04d}.example", balancer="bronze", plone_path=f"/plone/s{i}") for i in range(count)
    ]
    sites_https = []
    for site in sites_http:
        cert, key = pki.leaf(intermediate, [site.domain, f"www.{site.domain}"])
        record = CertificateRecord(
            serial=f"{cert.serial_number:x}",
            fullchain_pem=pki.pem(cert) + chain,
            key_pem=pki.key_pem(key),
            names=(site.domain, f"www.{site.domain}"),
        )
        sites_https.append(dataclasses.replace(site, aliases=(f"www.{site.domain}",), tls="acme", certificate=record))
    base = load_snapshot()  # the demo's servers and balancers
    for label, sites in (("HTTP-only", sites_http), ("HTTPS", sites_https)):
        directory = TMP / f"apache-{label}"
        config_dir = directory / "hostpanel"
        http_port, https_port = free_ports(2)
        frontend = FrontEndRecord(
            name="bench",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
        )
        snapshot = Snapshot(zope_servers=base.zope_servers, balancers=base.balancers, sites=tuple(sites))
        write_tree(render_tree(snapshot, frontend), config_dir)
        apache = StandaloneApache(
            directory / "apache", config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"]
        )
        try:
            test = apache.configtest()
            assert test.ok, test.output[-2000:]
            t0 = time.perf_counter()
            apache.start(timeout=600)
            start = time.perf_counter() - t0
            t0 = time.perf_counter()
            apache.graceful(timeout=600)
            graceful = time.perf_counter() - t0
            time.sleep(1)
            rss, pss = _memory(apache.pid())
            print(
                f"apache: {count} {label} sites: apache2 -t {test.seconds:.2f} s, start {start:.2f} s, "
                f"graceful {graceful:.2f} s, memory after graceful RSS {rss:.0f} MB / PSS {pss:.0f} MB "
                f"({len(_processes(apache.pid()))} processes)"
            )
        finally:
            apache.stop()


def _configtest(apache: StandaloneApache) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `apache2 -t` on this Apache's config."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [apache.binary, "-t", "-f", str(apache.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, "apache2 -t failed"
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def _until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def _settled(hosts, timeout: float = 120.0) -> float:
    """Seconds until every front-end has finished its background work after the last release (deploy.swap:
    the spare copy of the live release built, pruned releases removed)."""
    started = time.perf_counter()
    while True:
        busy = []
        for host in hosts:
            releases = Path(f"{host.config_dir}.releases")
            names = os.listdir(releases)
            if f"{SPARE_PREFIX}{os.path.basename(os.readlink(host.config_dir))}" not in names or any(
                ".tmp-" in n or n.startswith(TRASH_PREFIX) for n in names
            ):
                busy.append(host.name)
        if not busy:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"background work of {busy}")
        time.sleep(0.02)


def _answers_https(host, domain: str, root_pem: str) -> bool:
    try:
        return https_get(host.https_port, domain, root_pem=root_pem, timeout=5).status == 200
    except OSError:  # not served yet (no vhost: the default vhost's certificate does not verify)
        return False


def _nginx_test(nginx: StandaloneNginx) -> float:
    started = time.perf_counter()
    check = nginx.configtest()
    assert check.ok, check.output[-2000:]
    return time.perf_counter() - started


def scale(count: int, repeat: int, profile: bool, tls_edge: str = "apache", http_only: bool = False) -> None:
    """The figures of issue 27's table for `count` HTTPS sites (the module docstring, part `scale`)."""
    backends = [Backend(name).start() for name in ("zope1", "zope2")]
    made: list[StandaloneApache] = []
    hosts = []
    edge = tls_edge == "nginx"
    label = f"scale {count}" + (" (nginx edge)" if edge else "")

    def apache_factory(config_dir, *, listen=(), manager=False, manager_port=None):
        apache = StandaloneApache(
            TMP / f"scale{count}-apache{len(made)}",
            config_dir,
            listen=listen,
            manager=manager,
            manager_port=manager_port,
            workers=(2, 16),
        )
        made.append(apache)
        return apache.write_config()

    settings.HOSTPANEL_AUTO_DEPLOY = False
    try:
        key = make_client_key(TMP / "panel")
        settings.HOSTPANEL_SSH_KEY = str(key)
        balancer = make_balancer(backends)
        for name in ("fe1", "fe2", "fe3"):
            hosts.append(make_host(TMP / f"scale{count}-{name}", name, apache_factory, client_key=key, edge=edge))
        trusted = pki.TrustedPKI.create(TMP, "Bench Root")  # the customer's CA: uploads verify up to it
        settings.HOSTPANEL_CUSTOM_CA_BUNDLE = trusted.roots_file
        issuer, root_pem = trusted.intermediate, trusted.root_pem
        started = time.perf_counter()
        domains = add_https_sites(count, balancer, issuer)
        seeded = time.perf_counter() - started
        print(f"{label}: {count} HTTPS sites with their certificates written in {seeded:.1f} s")
        started = time.perf_counter()
        deployment = deployment_start(actor=ACTOR)
        for host in hosts:
            if host.nginx:  # the edge reload command returns before nginx has read its first edge config
                host.nginx.wait_until_settled()
        first = time.perf_counter() - started
        deployment.refresh_from_db()
        assert deployment.status == "succeeded", [(h.frontend_name, h.stage, h.error) for h in deployment.hosts.all()]
        sample = domains[:: max(1, count // 5)]
        for host in hosts:
            for domain in sample:
                assert _answers_https(host, domain, root_pem), (host.name, domain)
        print(f"{label}: first deploy {first:.1f} s (3 front-ends); SNI verified for {len(sample)} sites on each")
        settings.HOSTPANEL_AUTO_DEPLOY = True  # every change below deploys when it commits (immediate backend)
        http_times, https_times, gracefuls = [], [], []
        edge_before = [h.edge_reloads() for h in hosts]
        settled_times, waits = [], []
        for i in range(2 * repeat + (1 if profile else 0)):
            domain = f"plain{count}-{i}.example"
            if repeat <= i < 2 * repeat:  # the second half: once the front-ends' background work is done
                waits.append(_settled(hosts))
            before = [h.reloads() for h in hosts]
            profiler = None
            if i == 2 * repeat:  # --profile: one more, not timed, its front-ends one after the other in this thread
                settings.HOSTPANEL_DEPLOY_PARALLELISM, parallelism = 1, settings.HOSTPANEL_DEPLOY_PARALLELISM
                profiler = cProfile.Profile()
                profiler.enable()
            started = time.perf_counter()
            add_site(domain, balancer)
            _until(lambda d=domain: all(h.backend_for(d, timeout=0) for h in hosts), 30, f"{domain} live")
            if profiler is not None:
                profiler.disable()
                settings.HOSTPANEL_DEPLOY_PARALLELISM = parallelism
                print(f"scale {count}: profiled +1 HTTP site (3 front-ends in turn, panel side by own time):")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            else:
                (http_times if i < repeat else settled_times).append(time.perf_counter() - started)
            assert [h.reloads() for h in hosts] == before, "a map-only change reloaded Apache"
            assert [h.edge_reloads() for h in hosts] == edge_before, "a map-only change reloaded nginx"
            if profile:
                for row in Deployment.objects.order_by("-pk").first().hosts.all():
                    print(f"  {row.frontend_name}: {row.output.splitlines()[-1] if row.output else ''}")
        print(
            f"{label}: +1 HTTP site -> live on 3: median {statistics.median(http_times):.3f} s "
            f"({', '.join(f'{s:.3f}' for s in http_times)}), no reload; one after the other, each as soon as "
            f"the last is live",
            flush=True,
        )
        print(
            f"{label}: +1 HTTP site -> live on 3: median {statistics.median(settled_times):.3f} s "
            f"({', '.join(f'{s:.3f}' for s in settled_times)}), no reload; each once the front-ends had built "
            f"the spare copy of the last release (waited {', '.join(f'{s:.2f}' for s in waits)} s)",
            flush=True,
        )
        if http_only:
            return
        edge_reloads = []
        for i in range(repeat):
            domain = f"new{count}-{i}.example"
            upload = {}
            cert, private = pki.leaf(issuer, [domain])
            upload = {
                "certificate_pem": pki.pem(cert),
                "chain_pem": pki.pem(issuer.cert),
                "private_key_pem": pki.key_pem(private),
            }
            before = [h.reloads() for h in hosts]
            edge_before = [h.edge_reloads() for h in hosts]
            started = time.perf_counter()
            site = site_services.site_create(
                actor=ACTOR, domain=domain, balancer=balancer, plone_path="/plone/new", tls="custom"
            )
            certificate_set_custom(site, actor=ACTOR, **upload)
            last = Deployment.objects.order_by("-pk").first()
            if last.status != "succeeded":  # e.g. a graceful slower than the deployer's answer check (VERIFY_SECONDS)
                print(f"{label}: +1 HTTPS site: deployment {last.status}: {[h.error for h in last.hosts.all()]}")
            _until(lambda d=domain: all(_answers_https(h, d, root_pem) for h in hosts), 600, f"{domain} on https")
            https_times.append(time.perf_counter() - started)
            gracefuls.append([h.reloads() - b for h, b in zip(hosts, before, strict=True)])
            edge_reloads.append([h.edge_reloads() - b for h, b in zip(hosts, edge_before, strict=True)])
        fe1 = hosts[0].apache
        started = time.perf_counter()
        fe1.graceful(timeout=300)
        graceful = time.perf_counter() - started
        time.sleep(1)
        rss, pss = _memory(fe1.pid())
        test_seconds, test_rss = _configtest(fe1)
        edge_figures = ""
        if edge:
            nginx = hosts[0].nginx
            edge_figures = (
                f"; nginx reloads per HTTPS site (per front-end): {edge_reloads}; nginx RSS of one front-end "
                f"{nginx.rss_mb():.0f} MB ({len(nginx.processes())} processes), nginx -t {_nginx_test(nginx):.2f} s"
            )
        print(
            f"{label}: +1 HTTPS site with its certificate -> verified "
            f"HTTPS on 3: median {statistics.median(https_times):.2f} s "
            f"({', '.join(f'{s:.2f}' for s in https_times)}), "
            f"gracefuls per HTTPS site (per front-end): {gracefuls}; one graceful -> new generation serving "
            f"{graceful:.2f} s; Apache RSS of one front-end {rss:.0f} MB (PSS {pss:.0f} MB, "
            f"{len(_processes(fe1.pid()))} processes); apache2 -t {test_seconds:.2f} s / {test_rss:.0f} MB"
            f"{edge_figures}"
        )
    finally:
        settings.HOSTPANEL_AUTO_DEPLOY = False
        for apache in made:
            apache.stop()
        for host in hosts:
            host.stop_edge()
            if host.sshd:
                host.sshd.stop()
        for backend in backends:
            backend.stop()


def edge(count: int, repeat: int) -> None:
    """HAProxy with `count` certificates: what a TLS edge would cost and how fast a certificate goes live."""
    trusted = pki.TrustedPKI.create(TMP, "Edge Root")
    chain = pki.pem(trusted.intermediate.cert)

    def bundle(domain: str) -> str:
        cert, key = pki.leaf(trusted.intermediate, [domain, f"www.{domain}"])
        return pki.key_pem(key) + pki.pem(cert) + chain

    started = time.perf_counter()
    certificates = {f"tls{i:05d}.example": bundle(f"tls{i:05d}.example") for i in range(count)}
    print(f"edge {count}: {count} certificates made in {time.perf_counter() - started:.1f} s")
    backend = Backend("apache").start()
    proxy = HaproxyEdge(TMP / f"edge{count}", backend.port)
    try:
        started = time.perf_counter()
        proxy.start(certificates)
        start = time.perf_counter() - started
        started = time.perf_counter()
        check = subprocess.run(  # noqa: S603 - a fixed binary and our own config
            [haproxy_binary(), "-c", "-f", str(proxy.conf)], capture_output=True, text=True, timeout=600
        )
        check_seconds = time.perf_counter() - started
        assert check.returncode == 0, check.stderr[-2000:]
        rss = proxy.rss_mb()
        sample = "tls00007.example"
        assert https_get(proxy.port, sample, root_pem=trusted.root_pem).status == 200
        adds = []
        for i in range(repeat):
            domain = f"added{i}.example"
            pem = bundle(domain)
            started = time.perf_counter()
            proxy.add_certificate(domain, pem)
            answer = https_get(proxy.port, domain, root_pem=trusted.root_pem)
            adds.append(time.perf_counter() - started)
            assert answer.status == 200, (answer.status, answer.headers)
        assert https_get(proxy.port, f"www.{sample}", root_pem=trusted.root_pem).status == 200
        print(
            f"edge {count}: haproxy start {start:.2f} s, RSS {rss:.0f} MB (all processes), haproxy -c "
            f"{check_seconds:.2f} s; one certificate added at run time -> verified HTTPS: median "
            f"{statistics.median(adds) * 1000:.0f} ms ({', '.join(f'{s * 1000:.0f}' for s in adds)} ms), no reload; "
            f"RSS after {proxy.rss_mb():.0f} MB"
        )
    finally:
        proxy.stop()
        backend.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["issue", "scan", "apache", "scale", "edge", "all"], default="all")
    parser.add_argument("--edge", type=int, nargs="+", default=[1000], help="certificates (part edge)")
    parser.add_argument("--scale", type=int, nargs="+", default=[1000], help="HTTPS sites (part scale)")
    parser.add_argument("--repeat", type=int, default=3, help="changes timed per figure (part scale)")
    parser.add_argument("--http-only", action="store_true", help="part scale: only the +1 HTTP site figures")
    parser.add_argument(
        "--profile", action="store_true", help="stage seconds of each +1 HTTP site, and one more cProfiled (part scale)"
    )
    parser.add_argument(
        "--tls-edge", choices=["apache", "nginx"], default="apache", help="what terminates HTTPS (part scale)"
    )
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--vhosts", type=int, default=1000)
    args = parser.parse_args()
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    try:
        if connection.vendor == "postgresql":
            setup_databases(verbosity=0, interactive=False)
        else:
            call_command("migrate", verbosity=0)
        if args.part in ("scan", "all"):
            scan(args.certificates)
            Site.objects.all().delete()
            Balancer.objects.all().delete()
        if args.part in ("apache", "all"):
            call_command("seed_demo", sites=0, no_user=True, verbosity=0)
            apache_vhosts(args.vhosts)
            Site.objects.all().delete()
            Balancer.objects.all().delete()
            ZopeServer.objects.all().delete()
        if args.part in ("issue", "all"):
            issue(args.sites)
        if args.part == "edge":
            for count in args.edge:
                edge(count, args.repeat)
        if args.part == "scale":
            for count in args.scale:
                scale(count, args.repeat, args.profile, args.tls_edge, args.http_only)
                Site.objects.all().delete()
                Deployment.objects.all().delete()
                Balancer.objects.all().delete()
                ZopeServer.objects.all().delete()
                FrontEnd.objects.all().delete()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
