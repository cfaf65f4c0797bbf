"""The poller reads each front-end's mod_status beside its balancer-manager: one WorkerSample per front-end
per round, requests/s from the previous sample, MaxRequestWorkers from the connection test's facts, the same
login as the manager, failures reported with a reason (never a crash), a round bounded by one timeout and a
constant number of queries whatever the number of front-ends."""

from __future__ import annotations

import datetime
import time

from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balancers.models import FrontEnd, WorkerSample
from balancers.services import seal_manager_password
from status import poller
from status.poller import poll_once
from tests.factories import add_manager_frontend
from tests.samples import FIXTURES

AUTO = (FIXTURES / "server-status-2.4.71-auto.txt").read_bytes()
FACTS = {"checked_at": "2026-12-07T17:00:00+00:00", "mpm": "event", "modules": ["proxy", "status"],
         "limits": {"MaxRequestWorkers": 32, "ServerLimit": 2, "ThreadsPerChild": 16}}  # fmt: skip


def auto_page(busy: int, total: int, keepalive: int = 0) -> bytes:
    return (
        f"ServerMPM: event\nTotal Accesses: {total}\nBusyWorkers: {busy}\nIdleWorkers: {32 - busy}\n"
        f"ConnsTotal: {busy + keepalive}\nConnsAsyncKeepAlive: {keepalive}\nConnsAsyncClosing: 0\n"
        f"Scoreboard: {'W' * busy}{'_' * (32 - busy)}\n"
    ).encode()


def test_each_round_stores_one_worker_sample_per_front_end_with_requests_per_second(db, actor, fake_frontend):
    fake = fake_frontend(auto_page(busy=7, total=1000, keepalive=3))
    frontend = add_manager_frontend(actor, "fe1", fake.manager_url)
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=FACTS)
    result = poll_once()
    assert result.worker_samples == 1 and not result.worker_failures
    first = WorkerSample.objects.get()
    assert (first.busy, first.idle, first.slots, first.max_workers, first.keepalive) == (7, 25, 32, 32, 3)
    assert first.total_accesses == 1000 and first.requests_per_second is None  # nothing to compare with yet
    WorkerSample.objects.update(taken_at=first.taken_at - datetime.timedelta(seconds=10))
    fake.status_body = auto_page(busy=30, total=1500)
    poll_once()
    latest = WorkerSample.objects.order_by("-taken_at").first()
    assert latest.busy == 30
    assert 40 < latest.requests_per_second <= 50  # 500 requests in 10 s (and however long the round took)
    assert fake.seen("/server-status?auto") == 2 and fake.seen("/balancer-manager?xml=1") == 2


def test_mod_status_is_asked_with_the_managers_login_and_at_its_own_url_when_set(db, actor, settings, fake_frontend):
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    fake = fake_frontend(AUTO)
    frontend = add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")
    frontend.manager_username = "admin"
    frontend.manager_password_encrypted = seal_manager_password("s3cret")
    frontend.status_url = f"http://127.0.0.1:{fake.port}/custom-status"
    frontend.save()
    result = poll_once()
    assert result.worker_samples == 1, result
    (request,) = [r for r in fake.requests if r["path"].startswith("/custom-status")]
    assert request["path"] == "/custom-status?auto"
    assert request["headers"]["Authorization"] == "Basic YWRtaW46czNjcmV0"
    assert WorkerSample.objects.get().busy == 1


def test_junk_html_401_and_404_answers_are_reported_with_a_reason_and_store_nothing(db, actor, fake_frontend):
    cases = {
        "fe-junk": fake_frontend(b"I am not mod_status"),
        "fe-html": fake_frontend(b"<html><body>Apache Status</body></html>"),
        "fe-401": fake_frontend(b"no", status_code=401),
        "fe-404": fake_frontend(b"not found", status_code=404),
        "fe-ok": fake_frontend(AUTO),
    }
    for name, fake in cases.items():
        add_manager_frontend(actor, name, fake.manager_url)
    result = poll_once()
    failures = "\n".join(result.worker_failures)
    assert "fe-junk: junk not a mod_status ?auto page" in failures
    assert "fe-html: html" in failures
    assert "fe-401: down HTTP 401" in failures and "password" in failures
    assert "fe-404: down HTTP 404" in failures and "mod_status" in failures
    assert result.hosts_ok == 5  # the balancer-manager polls went on
    assert list(WorkerSample.objects.values_list("frontend__name", flat=True)) == ["fe-ok"]


def test_a_front_end_without_mod_status_loaded_is_not_asked(db, actor, fake_frontend):
    fake = fake_frontend(AUTO)
    frontend = add_manager_frontend(actor, "fe1", fake.manager_url)
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts={**FACTS, "modules": ["proxy"]})
    result = poll_once()
    assert fake.seen("/server-status") == 0 and result.worker_samples == 0 and not result.worker_failures


def test_a_slow_mod_status_costs_one_timeout_beside_the_manager_not_the_sum(db, actor, settings, fake_frontend):
    settings.HOSTPANEL_STATUS_TIMEOUT = 1.0
    for i in range(4):
        add_manager_frontend(actor, f"fe{i}", fake_frontend(AUTO, status_delay=5).manager_url)
    started = time.monotonic()
    result = poll_once()
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert result.hosts_ok == 4 and result.worker_samples == 0
    assert all("timeout" in f for f in result.worker_failures) and len(result.worker_failures) == 4


def test_a_round_makes_the_same_number_of_queries_for_two_or_ten_front_ends(
    db, actor, fake_frontend, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(poller.polled, "send_robust", lambda **kw: [])  # the poll alone (alerts: tests/alerts)
    for i in range(2):
        add_manager_frontend(actor, f"a{i}", fake_frontend(AUTO).manager_url)
    poll_once()  # a previous sample for each: the requests/s path
    with CaptureQueriesContext(connection) as small:
        poll_once()
    for i in range(8):
        add_manager_frontend(actor, f"b{i}", fake_frontend(AUTO).manager_url)
    poll_once()
    with django_assert_max_num_queries(len(small.captured_queries)):
        poll_once()
    assert WorkerSample.objects.filter(frontend__name="b7").count() == 2


def test_samples_older_than_the_history_window_are_pruned(db, actor, settings, fake_frontend):
    settings.HOSTPANEL_STATUS_HISTORY_MINUTES = 60
    add_manager_frontend(actor, "fe1", fake_frontend(AUTO).manager_url)
    poll_once()
    WorkerSample.objects.update(taken_at=timezone.now() - datetime.timedelta(minutes=61))
    poll_once()
    assert WorkerSample.objects.count() == 1
