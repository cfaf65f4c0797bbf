"""The capacity view: the dashboard and the front-end page show an hour of busy workers against
MaxRequestWorkers (inline SVG, labelled scale and limit line), the latest busy/idle/keep-alive/closing
figures and requests/s; the front-end page adds the sizing advice with its own numbers."""

from __future__ import annotations

import datetime
import re

from django.utils import timezone

from balancers.models import FrontEnd, WorkerSample
from balancers.selectors.overview import status_overview
from tests.factories import add_manager_frontend

FACTS = {"checked_at": "2026-12-07T17:00:00+00:00", "mpm": "event", "modules": ["status"],
         "limits": {"MaxRequestWorkers": 32, "ServerLimit": 2, "ThreadsPerChild": 16}}  # fmt: skip


def with_samples(actor, name: str = "fe1", busy=(4, 12, 30), keepalive: int = 9) -> FrontEnd:
    frontend = add_manager_frontend(actor, name, "http://127.0.0.1:1/balancer-manager")
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=FACTS)
    now = timezone.now()
    for i, value in enumerate(busy):
        WorkerSample.objects.create(
            frontend=frontend, taken_at=now - datetime.timedelta(seconds=30 * (len(busy) - 1 - i)), busy=value,
            idle=32 - value, slots=32, max_workers=32, keepalive=keepalive, closing=2, connections=value + keepalive,
            total_accesses=1000 * i, requests_per_second=33.3 if i else None,
        )  # fmt: skip
    return FrontEnd.objects.get(pk=frontend.pk)


def test_the_dashboard_shows_each_front_ends_workers_against_max_request_workers(db, actor, operator_client):
    with_samples(actor)
    html = operator_client.get("/").content.decode()
    section = html[html.index('id="workers"') :]
    assert "<svg" in section and "polyline" in section and 'class="limit"' in section
    assert "MaxRequestWorkers 32" in section  # the labelled limit line
    assert "Busy workers over the last 60 min: peak 30 of MaxRequestWorkers 32" in section
    figures = re.sub(r"\s+", " ", section[section.index("worker-figures") :])
    assert "30</strong> busy of 32 (94 % of MaxRequestWorkers) · 2 idle · 9 keep-alive · 2 closing" in figures
    assert "33.3 req/s" in figures and "saturated" in figures


def test_a_front_end_without_samples_says_how_to_get_them(db, actor, operator_client):
    add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")
    html = operator_client.get("/").content.decode()
    assert "No mod_status sample in the last 60 min" in html and "README" in html


def test_the_front_end_page_shows_the_chart_and_the_sizing_advice_with_its_numbers(db, actor, operator_client):
    frontend = with_samples(actor)
    html = operator_client.get(frontend.get_absolute_url()).content.decode()
    assert 'class="worker-chart"' in html and "MaxRequestWorkers 32" in html
    assert "mpm_event with MaxRequestWorkers 32, ThreadsPerChild 16, ServerLimit 2" in html
    assert "39 clients at once (the most seen in mod_status" in html  # 30 busy + 9 keep-alive
    assert "MaxRequestWorkers 32 with ThreadsPerChild 16 is too small" in html
    assert "MaxRequestWorkers 128" in html and "ThreadsPerChild 64" in html  # 39 clients: 2 processes of 64
    assert "ServerLimit 4" in html and "mpm_worker" in html
    asked = operator_client.get(frontend.get_absolute_url() + "?peak_clients=200").content.decode()
    assert "200 clients at once (as given)" in asked and "MaxRequestWorkers 512" in asked  # 2 x 256
    junk = operator_client.get(frontend.get_absolute_url() + "?peak_clients=-3").content.decode()
    assert "greater than or equal to 1" in junk and "39 clients at once" in junk


def test_the_status_read_model_has_a_workers_block_per_front_end(db, actor):
    with_samples(actor, busy=(5,))
    (frontend,) = status_overview()["frontends"]
    workers = frontend["workers"]
    assert workers["limit"] == 32 and workers["limit_source"] == "MaxRequestWorkers"
    assert workers["latest"]["busy"] == 5 and workers["latest"]["keepalive"] == 9
    assert workers["percent"] == 15.6 and workers["saturated"] is False and workers["stale"] is False
    assert workers["busy"][-1] == 5 and workers["busy"][0] is None
