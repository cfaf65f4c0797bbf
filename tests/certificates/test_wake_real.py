"""The ACME worker woken on real parts: two front-ends (sshd + Apache with mod_ssl and mod_http2) and pebble.
A site created through the billing API is served over verified HTTPS within seconds (the scan interval is
an hour: only the wake can have started the order); a burst of sites costs one graceful reload per
front-end; renewals, suspensions and removals keep SNI right for every site; a request in flight survives
a certificate going live; HTTP/2 is still negotiated; the deploy leases keep one reload in flight per
front-end even when two deployments run at once."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus
from balancers.models import Deployment
from balancers.services import deployment_start
from certificates.models import Certificate
from deploy.runner import deployment_execute
from devrig.fleet import Fleet
from devrig.net import https_get
from hostpanel.audit import Actor
from sites import services as site_services
from sites.models import Site
from tests.factories import ACTOR, give_certificate
from tests.realparts import require_binary

pytestmark = [pytest.mark.real]

SCAN_NEVER = 3600
SERVED_WITHIN = 45.0  # generous (2 cores shared by many test runs): bench/acme_orders.py measures the 10 s target


@pytest.fixture
def challenge_port(farm) -> int:
    return farm.fe1.http_port  # pebble validates http-01 on fe1; the token is on every front-end


def billing_creates(client: APIClient, domain: str) -> None:
    answer = client.post(
        "/api/v1/sites/", {"domain": domain, "balancer": "bronze", "plone_path": "/plone/example"}, format="json"
    )
    assert answer.status_code == 201, answer.json()


def serial_of(domain: str) -> int:
    return int(Certificate.objects.get(site__domain=domain).serial or "0", 16)


def served_serial(farm: Fleet, domain: str, root: str) -> int | None:
    """The serial every front-end presents for domain (SNI, chain and name verified), None while one does not."""
    serials = set()
    for host in farm.hosts:
        try:
            answer = https_get(host.https_port, domain, "/", root_pem=root, timeout=5)
        except (ssl.SSLError, OSError):
            return None
        if answer.status != 200:
            return None
        serials.add(answer.serial)
    return serials.pop() if len(serials) == 1 else None


def wait_served(farm: Fleet, worker, domains: list[str], root: str, timeout: float) -> float:
    """Seconds until every front-end serves each domain's current certificate over verified HTTPS."""
    started = time.monotonic()
    while True:
        with worker.turn():
            expected = {d: serial_of(d) for d in domains}
        if all(expected[d] and served_serial(farm, d, root) == expected[d] for d in domains):
            return time.monotonic() - started
        assert worker.error is None, worker.error
        assert time.monotonic() - started < timeout, {d: (expected[d], served_serial(farm, d, root)) for d in domains}
        time.sleep(0.1)


def worker_deployments() -> int:
    return Deployment.objects.filter(actor=str(Actor.system())).count()


def negotiated_protocol(port: int, domain: str, root_file: str) -> str:
    curl = require_binary("curl")
    out = subprocess.run(
        [curl, "-sS", "-o", "/dev/null", "-w", "%{http_version}", "--http2", "--cacert", root_file]
        + ["--resolve", f"{domain}:{port}:127.0.0.1", f"https://{domain}:{port}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_new_site_is_served_over_https_in_seconds_and_sni_stays_right_through_its_life(
    acme, farm, billing, acme_worker, tmp_path, settings
):
    farm.deploy()  # the front-ends serve the challenge directory for any Host
    root = acme.root_pem()
    if connection.vendor == "postgresql":
        settings.HOSTPANEL_ACME_PARALLEL_ORDERS = 4  # the production default (SQLite's test database: 1)
    # a window longer than the burst below: it closes when nothing more is due (a lone site waits for nobody)
    worker = acme_worker(scan_seconds=SCAN_NEVER, batch_seconds=60)

    # one site: created -> served over verified HTTPS on both front-ends, long before any scan
    with worker.turn():
        created = time.monotonic()
        billing_creates(billing, "first.example")
    took = wait_served(farm, worker, ["first.example"], root, SERVED_WITHIN)
    assert time.monotonic() - created < SERVED_WITHIN, took
    assert [result.issued for _, result in worker.rounds][:2] == [0, 1]  # the woken round ordered it

    # a burst: the certificates go live in one deployment, one graceful per front-end
    burst = [f"burst{i}.example" for i in range(4)]
    with worker.turn():
        reloads = {host.name: host.reloads() for host in farm.hosts}
        by_worker = worker_deployments()
        with transaction.atomic():  # created together: the wake-ups and the sites' deployment come at commit
            for domain in burst:
                billing_creates(billing, domain)  # HTTP sites at once: a map change, no reload
    wait_served(farm, worker, burst, root, 60)
    with worker.turn():
        assert worker_deployments() == by_worker + 1
    assert {host.name: host.reloads() - reloads[host.name] for host in farm.hosts} == {"fe1": 1, "fe2": 1}
    everyone = ["first.example", *burst]

    # HTTP/2 still negotiated over HTTPS
    root_file = tmp_path / "pebble-root.pem"
    root_file.write_text(root)
    for host in farm.hosts:
        assert negotiated_protocol(host.https_port, "burst0.example", str(root_file)) == "2"

    # "Renew now" with a slow request in flight: it completes on the old certificate, the new one goes live
    with worker.turn():
        old = serial_of("first.example")
    for backend in farm.backends.values():
        backend.delay = 3
    slow: dict = {}
    thread = threading.Thread(
        target=lambda: slow.update(answer=https_get(farm.fe1.https_port, "first.example", "/slow", root_pem=root))
    )
    thread.start()
    time.sleep(0.5)  # the request is at the backend
    with worker.turn():
        site_services.site_certificate_renew(Site.objects.get(domain="first.example"), actor=ACTOR)
    thread.join(30)
    for backend in farm.backends.values():
        backend.delay = 0
    assert slow["answer"].status == 200 and slow["answer"].serial == old  # it survived the activation
    wait_served(farm, worker, everyone, root, SERVED_WITHIN)
    with worker.turn():
        assert serial_of("first.example") != old

    # suspended: still the site's own certificate (the suspended page over HTTPS), the others unchanged
    with worker.turn():
        site_services.site_suspend(Site.objects.get(domain="burst1.example"), actor=ACTOR)
        serials = {d: serial_of(d) for d in everyone}
    for host in farm.hosts:
        answer = https_get(host.https_port, "burst1.example", "/", root_pem=root)
        assert (answer.status, answer.serial) == (503, serials["burst1.example"])
    wait_served(farm, worker, [d for d in everyone if d != "burst1.example"], root, 10)

    # removed: its name is no longer served with a certificate that verifies; the others are
    with worker.turn():
        site_services.site_delete(Site.objects.get(domain="burst2.example"), actor=ACTOR)
    for host in farm.hosts:
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(host.https_port, "burst2.example", "/", root_pem=root)
    wait_served(farm, worker, ["first.example", "burst0.example", "burst3.example"], root, 10)


def test_two_deployments_at_once_never_have_two_reloads_in_flight_on_a_front_end(farm, tmp_path, test_pki, secrets_key):
    """The deploy leases, looked at from the front-end: a reload command that notices a second one running."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (two deploying threads): DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        )
    farm.deploy()
    for host in farm.hosts:
        marker, overlaps = tmp_path / f"{host.name}.reloading", tmp_path / f"{host.name}.overlaps"
        reload = (
            f"if ! mkdir {marker} 2>/dev/null; then echo overlap >> {overlaps}; fi; "
            f"{host.apache.binary} -k graceful -f {host.apache.conf}; sleep 1; rmdir {marker} 2>/dev/null; true"
        )
        balancer_services.frontend_update(host.frontend, actor=ACTOR, reload_command=reload)
    deployments = []
    for domain in ("one.example", "two.example"):  # each a new certificate: a graceful reload on every front-end
        site = site_services.site_create(
            actor=ACTOR, domain=domain, balancer=farm.balancer, plone_path="/plone/x", tls="none"
        )
        give_certificate(site, test_pki)
        deployments.append(deployment_start(actor=ACTOR, enqueue=False))
    reloads = {host.name: host.reloads() for host in farm.hosts}
    results: dict[int, str] = {}

    def run(pk: int) -> None:
        try:
            results[pk] = deployment_execute(pk).status
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(d.pk,)) for d in deployments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(results.values()) == {DeploymentStatus.SUCCEEDED}, results
    first, second = (Deployment.objects.get(pk=d.pk) for d in deployments)
    assert first.started_at < second.finished_at and second.started_at < first.finished_at  # really at once
    for host in farm.hosts:
        assert not (tmp_path / f"{host.name}.overlaps").exists(), host.name
        assert host.reloads() > reloads[host.name]
        assert https_get(host.https_port, "two.example", root_pem=None).status == 200  # the latest is live
