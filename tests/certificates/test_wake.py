"""An ACME order starts the moment a site needs one: the ACME worker is woken (certificates.wake) instead of
waiting for its next scan, and what it issues close together goes live in one deployment per batch."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from balancers.models import Balancer, Deployment
from certificates.choices import AttemptOutcome, CertificateStatus
from certificates.models import AcmeAttempt, Certificate
from certificates.publishing import register_frontends_publisher
from certificates.worker import acme_worker_run
from deploy.wake import ACME, WakeListener
from devrig.net import free_port
from hostpanel.audit import Actor
from sites.services import site_certificate_renew, site_create, site_update
from tests.samples import ROOT

SCAN_NEVER = 3600  # a scan interval no test waits for: whatever is ordered was woken


@pytest.fixture
def ca_configured(settings, tmp_path):
    settings.TASKS_BACKEND = "db"
    settings.HOSTPANEL_WAKE_DIR = tmp_path / "wake"
    settings.HOSTPANEL_ACME_DIRECTORY = "https://ca.invalid/dir"


def create(domain: str, actor, *, aliases=(), balancer=None):
    balancer = balancer or Balancer.objects.get_or_create(name="bronze")[0]
    return site_create(
        actor=actor, domain=domain, balancer=balancer, plone_path="/plone/site", aliases=list(aliases), tls="acme"
    )


@pytest.mark.django_db(transaction=True)
def test_a_new_acme_site_wakes_the_acme_worker_and_not_the_deploy_workers(ca_configured, actor):
    with WakeListener(ACME) as acme, WakeListener() as deploy:
        with transaction.atomic():
            site = create("example.com", actor)
            assert acme.wait(0) is False  # not before the site is committed
        assert acme.wait(0) is True
        assert deploy.wait(0) is False  # automatic deploy is off in the tests: nothing for a deploy worker

        site_update(site, actor=actor, plone_path="/plone/other")  # nothing to order
        assert acme.wait(0) is False

        site_certificate_renew(site, actor=actor)  # "Renew now"
        assert acme.wait(0) is True


def test_many_sites_created_in_one_transaction_wake_the_worker_once(
    db, ca_configured, actor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for i in range(3):
            create(f"site{i}.example", actor)
    assert len([c for c in callbacks if c.__module__ == "certificates.wake"]) == 1
    assert Certificate.objects.filter(status=CertificateStatus.PENDING).count() == 3


def test_without_a_ca_nothing_is_woken(db, ca_configured, settings, actor, django_capture_on_commit_callbacks):
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    with WakeListener(ACME) as acme:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            create("example.com", actor)
        assert acme.wait(0) is False
    assert Certificate.objects.get().status == CertificateStatus.PENDING  # the scan orders it once a CA is set
    assert not [c for c in callbacks if "certificates.wake" in getattr(c, "__module__", "")]


def test_the_batch_window_must_be_a_number_of_seconds(ca_configured):
    with pytest.raises(CommandError, match="--batch at least 0"):
        call_command("renew_certificates", "--loop", "--batch", "-1")


# --- against pebble -------------------------------------------------------------------------------


@pytest.fixture
def pebble(settings, pebble_ca, challenge_server, secrets_key):
    settings.HOSTPANEL_ACME_DIRECTORY = pebble_ca.directory_url
    settings.HOSTPANEL_ACME_CA_BUNDLE = pebble_ca.ca_bundle
    settings.HOSTPANEL_DNS_RESOLVER = pebble_ca.dns_resolver
    settings.HOSTPANEL_ACME_ORDER_TIMEOUT = 30
    settings.HOSTPANEL_AUTO_DEPLOY = True  # every batch is an automatic deployment (no front-end here)
    publisher, _server = challenge_server
    previous = register_frontends_publisher(lambda: publisher)
    yield pebble_ca
    register_frontends_publisher(previous)


def wait_for(condition, worker, timeout: float) -> float:
    """Seconds until condition() held (checked in the worker's turn), failing after timeout."""
    started = time.monotonic()
    while True:
        with worker.turn():
            if condition():
                return time.monotonic() - started
        assert worker.error is None, worker.error
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.05)


def worker_deployments() -> int:
    """Deployments the ACME worker asked for (the sites' own are the actor's)."""
    return Deployment.objects.filter(actor=str(Actor.system())).count()


def issued(*domains: str):
    return lambda: (
        Certificate.objects.filter(site__domain__in=domains, status=CertificateStatus.VALID).count() == len(domains)
    )


pebble_tests = pytest.mark.real


@pebble_tests
@pytest.mark.django_db(transaction=True)
def test_a_new_site_is_ordered_at_once_not_at_the_next_scan(pebble, acme_worker, actor):
    worker = acme_worker(scan_seconds=SCAN_NEVER, batch_seconds=0.5)
    with worker.turn():
        site = create("example.com", actor, aliases=["www.example.com"])
    took = wait_for(issued("example.com"), worker, timeout=30)
    assert took < 15  # woken: the scan would have come after an hour
    certificate = Certificate.objects.get(site=site)
    assert certificate.names == ["example.com", "www.example.com"]
    wait_for(lambda: worker_deployments() == 1, worker, timeout=10)  # a lone certificate goes live at once
    assert [result.issued for _, result in worker.rounds] == [0, 1]  # the start, then the woken round


@pebble_tests
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refused_names", [("refused.example",)])
def test_a_burst_goes_live_in_one_deployment_and_a_refused_site_waits_for_its_backoff(
    pebble, acme_worker, actor, refused_names
):
    # a window longer than the burst: the batch closes when nothing more is due, not when the window ends
    worker = acme_worker(scan_seconds=SCAN_NEVER, batch_seconds=60)
    domains = [f"site{i}.example" for i in range(5)]
    with worker.turn():
        for domain in [domains[0], "refused.example", *domains[1:]]:
            create(domain, actor)
    took = wait_for(lambda: worker_deployments() == 1, worker, timeout=60)
    assert took < 40  # long before the window's end
    time.sleep(1.0)  # nothing else is published later
    with worker.turn():
        assert issued(*domains)()
        assert worker_deployments() == 1  # one for the five certificates
        refused = Certificate.objects.get(site__domain="refused.example")
        assert refused.status == CertificateStatus.FAILED and refused.failures == 1
        assert "refused.example" in refused.last_error
        assert refused.next_attempt_at is not None
        (attempt,) = AcmeAttempt.objects.filter(certificate=refused)
        assert attempt.outcome != AttemptOutcome.ISSUED
        wait_hours = (refused.next_attempt_at - attempt.started_at).total_seconds() / 3600
        assert wait_hours == pytest.approx(1, abs=0.01)  # the backoff; the others went on
        # woken again (another site's change), the refused site is not ordered again before its backoff
        create("later.example", actor)
    wait_for(issued("later.example"), worker, timeout=30)
    with worker.turn():
        assert AcmeAttempt.objects.filter(certificate=refused).count() == 1


def test_renew_certificates_loop_orders_when_woken_and_stops_cleanly_on_term(tmp_path):
    """The worker bin/run starts, in a process of its own: an hour between scans, yet a new site's order
    starts within seconds; SIGTERM ends it with its socket removed."""
    db = tmp_path / "acme.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "HOSTPANEL_TASKS_BACKEND": "db",
        "HOSTPANEL_VAR_DIR": str(tmp_path / "var"),
        "HOSTPANEL_ACME_DIRECTORY": f"https://127.0.0.1:{free_port()}/dir",  # nobody answers: the attempt fails
        "HOSTPANEL_DNS_RESOLVER": f"127.0.0.1:{free_port()}",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "renew_certificates", "--loop", "--interval", str(SCAN_NEVER), "-v2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sockets = tmp_path / "var" / "wake" / "acme"
    try:
        deadline = time.monotonic() + 60
        while not list(sockets.glob("*.wake")):  # listening
            assert time.monotonic() < deadline and worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.05)
        time.sleep(0.5)  # its first round is done: idle now, in its hour-long wait
        script = (
            "from balancers.models import Balancer\n"
            "from hostpanel.audit import Actor\n"
            "from sites.services import site_create\n"
            "site_create(actor=Actor.command('tests'), domain='wake.example', balancer=Balancer.objects.create("
            "name='bronze'), plone_path='/plone/wake', tls='acme')\n"
        )
        subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, timeout=120)
        created = time.monotonic()
        while True:
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT outcome FROM certificates_acmeattempt").fetchall()
            if rows and rows[0][0] != AttemptOutcome.RUNNING:
                break
            assert time.monotonic() - created < 30, rows  # far below the hour: it was woken
            time.sleep(0.05)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert worker.returncode == 0, output
    assert "1 ACME attempts, 0 certificates issued" in output
    assert "wake.example: " in output  # the failure is reported, with its site
    assert not list(sockets.glob("*.wake"))


@pebble_tests
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_stops_puts_its_open_batch_live_first(pebble, settings, tmp_path, actor):
    settings.TASKS_BACKEND, settings.HOSTPANEL_WAKE_DIR = "db", tmp_path / "wake"
    create("example.com", actor)  # due now (its wake-up reaches nobody yet)
    with WakeListener(ACME) as wake:
        # one round, a window of an hour: the certificate is issued while its batch is still open
        batch = acme_worker_run(wake=wake, scan_seconds=SCAN_NEVER, batch_seconds=3600, limit=50, rounds=1)
    assert Certificate.objects.get().status == CertificateStatus.VALID
    assert (batch.deployments, batch.pending, worker_deployments()) == (1, False, 1)
