"""Against a REAL Apache (devrig.StandaloneApache, event MPM 2 x 16 workers, mod_status on its manager vhost)
serving the panel's rendered config in front of slow fake Zope backends: the real poller stores WorkerSample
rows that the dashboard shows, and a bounded load test that keeps every worker busy makes the saturation
alert fire (and resolve once the load stops)."""

from __future__ import annotations

import threading
import time

import pytest

from alerts.choices import AlertEvent, AlertState
from alerts.models import Alert
from balancers import services
from balancers.models import FrontEnd, WorkerSample, ZopeServer
from devrig.apache import write_tree
from devrig.net import free_port, http_get
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from status.poller import poll_once

pytestmark = pytest.mark.real

WORKERS = (2, 16)  # MaxRequestWorkers 32
FACTS = {"checked_at": "2026-12-07T17:00:00+00:00", "mpm": "event", "modules": ["proxy", "status"],
         "limits": {"MaxRequestWorkers": 32, "ServerLimit": 2, "ThreadsPerChild": 16}}  # fmt: skip
SITE = "linux.co.uk"


@pytest.fixture
def small_frontend(demo, actor, tmp_path, apache_factory, backend_factory):
    """fe1: a real Apache with the small limits, its Zope servers answering after 0.5 s (every request
    holds a worker that long)."""
    for name in ("zope1", "zope2", "backup"):
        backend = backend_factory(name, delay=0.5)
        services.zope_server_update(ZopeServer.objects.get(name=name), actor=actor, port=backend.port)
    site_port = free_port()
    config_dir = tmp_path / "fe1-conf"
    listen = f"127.0.0.1:{site_port}"
    apache = apache_factory(config_dir, listen=[listen], manager=True, workers=WORKERS, extended_status=True)
    frontend = services.frontend_create(
        actor=actor,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=listen,
        balancer_manager_url=apache.manager_url,
    )
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=FACTS)  # what the connection test reads
    write_tree(render_tree(load_snapshot(), frontend), config_dir)
    apache.start()
    assert http_get(site_port, host=SITE, timeout=10).status == 200, apache.error_log()[-2000:]
    return apache, site_port


def test_the_real_poller_stores_mod_status_samples_and_the_dashboard_shows_them(small_frontend, operator_client):
    apache, site_port = small_frontend
    first = poll_once()
    assert first.worker_samples == 1, first.worker_failures
    for _ in range(5):
        http_get(site_port, host=SITE, timeout=10)
    time.sleep(0.2)
    poll_once()
    samples = list(WorkerSample.objects.order_by("taken_at"))
    assert len(samples) == 2
    latest = samples[-1]
    assert latest.slots == 32 and latest.max_workers == 32 and latest.busy >= 1  # the status request itself
    assert latest.busy + latest.idle <= 32
    assert latest.total_accesses >= samples[0].total_accesses + 5  # ExtendedStatus On
    assert latest.requests_per_second is not None and latest.requests_per_second > 0
    html = operator_client.get("/").content.decode()
    section = html[html.index('id="workers"') :]
    assert "MaxRequestWorkers 32" in section and 'class="worker-chart"' in section
    assert f"{latest.busy}</strong> busy of 32" in section


def load(port: int, clients: int, seconds: float) -> tuple[threading.Event, list[threading.Thread], list[int]]:
    """`clients` threads requesting the site back to back for at most `seconds` (or until stopped)."""
    stop = threading.Event()
    statuses: list[int] = []
    deadline = time.monotonic() + seconds

    def client() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                statuses.append(http_get(port, host=SITE, timeout=5).status)
            except OSError:
                statuses.append(0)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return stop, threads, statuses


def test_a_bounded_load_above_the_workers_fires_the_saturation_alert_and_it_resolves_after(small_frontend, settings):
    settings.HOSTPANEL_SATURATION_PERCENT = 90
    settings.HOSTPANEL_SATURATION_MINUTES = 0.04  # 2.4 s of saturation
    settings.HOSTPANEL_STATUS_POLL_SECONDS = 1
    settings.HOSTPANEL_STATUS_TIMEOUT = 2.0
    apache, site_port = small_frontend
    stop, threads, statuses = load(site_port, clients=96, seconds=30)  # three clients per worker
    try:
        fired_at = None
        started = time.monotonic()
        while time.monotonic() - started < 25:
            poll_once()  # the poller's round: samples stored, then the alerts evaluated (alerts.receivers)
            alert = Alert.objects.filter(event=AlertEvent.SATURATION, state=AlertState.OPEN).first()
            if alert is not None:
                fired_at = time.monotonic() - started
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    busy = list(WorkerSample.objects.order_by("taken_at").values_list("busy", flat=True))
    assert fired_at is not None, f"no saturation alert; busy per sample: {busy}"
    assert alert.subject == "fe1" and "of 32 Apache workers busy" in alert.summary
    assert "keep-alive connections are being closed: visitors can see failed requests" in alert.detail
    assert "MaxRequestWorkers 32 with ThreadsPerChild 16 is too small" in alert.detail and "mpm_worker" in alert.detail
    assert max(busy) >= 29 and len(statuses) > 96
    time.sleep(1.5)  # the last requests end
    poll_once()
    assert Alert.objects.get(event=AlertEvent.SATURATION).state == AlertState.RESOLVED
