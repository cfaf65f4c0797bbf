"""Fixtures for the certificates tests: a secrets key for every test, and a site (example.com with alias
www.example.com), the ACME worker in a thread (`acme_worker`), pebble for a farm (`acme`, validating on
the front-end at `challenge_port`) and a billing API client (`billing`). The test PKI (`test_pki`) comes from
tests/harness/tls.py."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

import certificates.worker
from api.services import api_token_create
from balancers.models import Balancer
from certificates.services import CertificateBatch
from certificates.tasks import ScanResult
from certificates.worker import acme_worker_run
from deploy.wake import ACME, WakeListener, notify_workers
from hostpanel.audit import Actor
from sites.services import site_create


@pytest.fixture(autouse=True)
def _secrets(secrets_key):
    """Every certificates test has a secrets key (tests/harness/tls.py)."""
    return secrets_key


@pytest.fixture
def site(db, actor):
    balancer = Balancer.objects.create(name="bronze")
    return site_create(
        actor=actor,
        domain="example.com",
        balancer=balancer,
        plone_path="/plone/example",
        aliases=["www.example.com"],
        tls="acme",
    )


class RunningAcmeWorker:
    """The ACME worker (certificates.worker) in a thread, listening on the ACME wake channel.

    SQLite's shared-cache in-memory test database cannot take writes from two threads at once: there, the
    worker's rounds and batch deployments and the test's own database work (`with worker.turn():`) take
    turns. On PostgreSQL they run side by side, as two processes would."""

    def __init__(self, *, scan_seconds: float, batch_seconds: float, limit: int = 50) -> None:
        self.scan_seconds, self.batch_seconds, self.limit = scan_seconds, batch_seconds, limit
        self.rounds: list[tuple[float, ScanResult]] = []  # (time.monotonic(), result) of every round
        self.batch: CertificateBatch | None = None
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acme-worker", daemon=True)

    def turn(self):
        return self._lock if connection.vendor == "sqlite" else contextlib.nullcontext()

    def _run(self) -> None:
        try:
            with WakeListener(ACME) as wake:
                self._listening.set()
                self.batch = acme_worker_run(
                    wake=wake,
                    scan_seconds=self.scan_seconds,
                    batch_seconds=self.batch_seconds,
                    limit=self.limit,
                    should_stop=self._stop.is_set,
                    on_round=lambda result: self.rounds.append((time.monotonic(), result)),
                )
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.error = exc
        finally:
            connection.close()

    def start(self) -> RunningAcmeWorker:
        self._thread.start()
        assert self._listening.wait(10), "the ACME worker did not start listening"
        while not self.rounds:  # its first round (at start) is done: from now on only a wake or the scan
            assert self._thread.is_alive(), self.error
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stop.set()
        notify_workers(ACME)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the ACME worker did not stop"


@pytest.fixture
def acme_worker(settings, tmp_path, monkeypatch):
    """start(scan_seconds=..., batch_seconds=...) -> RunningAcmeWorker; wakes go to it (the db backend's path)."""
    settings.TASKS_BACKEND = "db"  # certificates.wake sends datagrams; the immediate backend still runs deployments
    settings.HOSTPANEL_WAKE_DIR = tmp_path / "wake"
    started: list[RunningAcmeWorker] = []

    def start(**kwargs) -> RunningAcmeWorker:
        worker = RunningAcmeWorker(**kwargs)
        real_scan, real_publish = certificates.worker.renewal_scan, CertificateBatch.publish

        def scan(*args, **kw):
            with worker.turn():
                return real_scan(*args, **kw)

        def publish(self):
            with worker.turn():
                return real_publish(self)

        monkeypatch.setattr(certificates.worker, "renewal_scan", scan)
        monkeypatch.setattr(CertificateBatch, "publish", publish)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def acme(settings, farm, pebble_ca, challenge_port, secrets_key):
    """The panel orders from pebble, which validates http-01 on the front-end listening on challenge_port."""
    settings.HOSTPANEL_ACME_DIRECTORY = pebble_ca.directory_url
    settings.HOSTPANEL_ACME_CA_BUNDLE = pebble_ca.ca_bundle
    settings.HOSTPANEL_DNS_RESOLVER = pebble_ca.dns_resolver
    settings.HOSTPANEL_ACME_HTTP_PORT = challenge_port
    settings.HOSTPANEL_ACME_ORDER_TIMEOUT = 30
    settings.HOSTPANEL_AUTO_DEPLOY = True  # the tasks backend is immediate: deployments run where they are asked
    return pebble_ca


@pytest.fixture
def billing(acme) -> APIClient:
    """An API client with a billing token, as WHMCS would use."""
    _token, key = api_token_create(actor=Actor.command("tests"), name="whmcs", scope="billing")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
