"""The dashboard reads the poller's latest sample of each front-end (status.FrontEndSnapshot)
instead of asking every balancer-manager on every 5 s refresh of every open browser: N refreshes send no
request to any front-end and make a constant number of queries; the page says how old each sample is;
"refresh now" (?live=1) asks every front-end once and keeps the answers."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balancers.models import BalancerMember, FrontEnd, FrontEndSnapshot
from balancers.selectors.overview import status_overview
from status.poller import poll_once
from tests.factories import add_manager_frontend, manager_url
from tests.samples import MANAGER_XML

BROWSERS = 20


def manager_farm(actor, canned_server, closed_port, count: int = 3) -> list:
    """`count` front-ends answering the captured XML (their servers count requests) and one down."""
    servers = []
    for i in range(count):
        url, server = canned_server(body=MANAGER_XML)
        add_manager_frontend(actor, f"fe{i}", url)
        servers.append(server)
    add_manager_frontend(actor, "fe-down", manager_url(closed_port))
    return servers


def requests_seen(servers) -> int:
    return sum(len(server.requests) for server in servers)


def test_n_dashboard_refreshes_send_no_request_to_the_front_ends_and_make_constant_queries(
    demo, actor, operator_client, canned_server, closed_port, django_assert_max_num_queries
):
    servers = manager_farm(actor, canned_server, closed_port)
    poll_once()  # the poller's round (bin/run runs poll_status --loop)
    assert requests_seen(servers) == 6  # each front-end's balancer-manager and mod_status
    operator_client.get("/")  # warm the session and the user's group cache
    with CaptureQueriesContext(connection) as grid:
        first = operator_client.get("/dashboard/grid/")
    with CaptureQueriesContext(connection) as page:
        operator_client.get("/")
    assert 'data-frontend="fe0" data-state="ok"' in first.content.decode()
    for _ in range(BROWSERS):  # 20 staff with the dashboard open, one refresh each (grid and page)
        with django_assert_max_num_queries(len(grid.captured_queries)):
            assert operator_client.get("/dashboard/grid/").status_code == 200
        with django_assert_max_num_queries(len(page.captured_queries)):
            assert operator_client.get("/").status_code == 200
    assert requests_seen(servers) == 6  # not one more request to any front-end


def test_the_page_shows_each_samples_age_and_flags_an_old_one_as_stale(
    demo, actor, operator_client, canned_server, closed_port
):
    manager_farm(actor, canned_server, closed_port, count=1)
    poll_once()
    FrontEndSnapshot.objects.filter(frontend__name="fe0").update(
        fetched_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    html = operator_client.get("/").content.decode()
    assert "sampled 600 s ago" in html and 'data-stale="1"' in html
    assert "Refresh now" in html and 'href="/?live=1"' in html
    overview = status_overview()
    ages = {f["name"]: (round(f["age"] / 60), f["stale"]) for f in overview["frontends"]}
    assert ages == {"fe-down": (0, False), "fe0": (10, True)}


def test_a_front_end_the_poller_never_reached_says_so(demo, actor, operator_client, canned_server, closed_port):
    servers = manager_farm(actor, canned_server, closed_port, count=1)
    html = operator_client.get("/").content.decode()
    assert 'data-state="unpolled"' in html and "no sample yet" in html and "poll_status --loop" in html
    assert requests_seen(servers) == 0


def test_refresh_now_asks_every_front_end_once_and_later_refreshes_read_its_answers(
    demo, actor, operator_client, canned_server, closed_port
):
    servers = manager_farm(actor, canned_server, closed_port)
    html = operator_client.get("/?live=1").content.decode()
    assert requests_seen(servers) == 3
    assert "asked just now" in html and 'data-frontend="fe1" data-state="ok"' in html
    assert FrontEndSnapshot.objects.get(frontend__name="fe-down").state == "refused"
    later = operator_client.get("/dashboard/grid/").content.decode()
    assert requests_seen(servers) == 3 and 'data-frontend="fe1" data-state="ok"' in later


def test_a_viewer_reads_the_samples_and_cannot_make_the_panel_ask_the_front_ends(
    demo, actor, viewer_client, canned_server, closed_port
):
    servers = manager_farm(actor, canned_server, closed_port)
    html = viewer_client.get("/?live=1").content.decode()
    assert requests_seen(servers) == 0 and not FrontEndSnapshot.objects.exists()
    assert "Refresh now" not in html and "no sample yet" in html
    viewer_client.get("/dashboard/grid/?live=1")
    assert requests_seen(servers) == 0


def test_the_sample_shows_what_a_live_fetch_shows(demo, actor, canned_server, closed_port):
    manager_farm(actor, canned_server, closed_port)
    poll_once()
    sampled, live = status_overview(), status_overview(live=True)
    assert (sampled["live"], live["live"]) == (False, True)
    assert sampled["balancers"] == live["balancers"]
    assert [(f["name"], f["state"], f["reason"]) for f in sampled["frontends"]] == [
        (f["name"], f["state"], f["reason"]) for f in live["frontends"]
    ]


def test_after_a_toggle_the_dashboard_asks_the_front_ends_once(demo, operator_client):
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    response = operator_client.post(f"/members/{zope2.pk}/flags/", {"drain": "1"})
    assert response.status_code == 302 and response["Location"] == "/?live=1"


def test_polling_keeps_one_snapshot_per_front_end_and_drops_it_with_the_front_end(
    demo, actor, canned_server, closed_port
):
    manager_farm(actor, canned_server, closed_port, count=2)
    poll_once()
    poll_once()
    assert FrontEndSnapshot.objects.count() == 3
    snapshot = FrontEndSnapshot.objects.get(frontend__name="fe0")
    assert snapshot.state == "ok" and snapshot.payload[0]["name"] == "bronze"
    assert "nonce" not in snapshot.payload[0]  # single-use, never kept
    FrontEnd.objects.get(name="fe0").delete()
    assert FrontEndSnapshot.objects.count() == 2
