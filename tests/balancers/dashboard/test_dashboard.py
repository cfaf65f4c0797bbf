"""The dashboard page, its self-refreshing grid, the toggle buttons, the shared status_overview(),
and the polling task."""

from __future__ import annotations

import datetime
import json

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balancers import services
from balancers.models import Balancer, BalancerMember, FrontEnd, StatusSample, ZopeServer
from balancers.selectors import overview as status_overview_mod
from status.poller import poll_once
from tests.factories import add_manager_frontend as add_frontend
from tests.factories import manager_url
from tests.samples import BILLION_LAUGHS
from tests.samples import MANAGER_XML as XML


def test_the_dashboard_is_the_home_page_and_needs_a_staff_login(demo, client, django_user_model):
    assert client.get("/").status_code == 302
    user = django_user_model.objects.create_user(username="nobody", password="pw")
    client.force_login(user)
    assert client.get("/").status_code == 403


def test_it_shows_every_front_end_state_with_its_reason(demo, actor, operator_client, canned_server, closed_port):
    ok_url, _ = canned_server(body=XML)
    junk_url, _ = canned_server(body=BILLION_LAUGHS)
    add_frontend(actor, "fe-a", ok_url)
    add_frontend(actor, "fe-b", manager_url(closed_port))
    add_frontend(actor, "fe-c", junk_url)
    poll_once()  # what the poller does every HOSTPANEL_STATUS_POLL_SECONDS
    response = operator_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-state="ok"' in html and 'data-state="refused"' in html and 'data-state="junk"' in html
    assert "refused hostile XML" in html and "connection refused" in html
    assert 'data-refresh-url="/dashboard/grid/"' in html
    # the canned XML's workers are not the demo's Zope servers: drift is flagged, unknown workers listed
    assert "not in this balancer" in html and "Live workers the panel does not know" in html
    grid = operator_client.get("/dashboard/grid/")
    assert grid.status_code == 200 and grid.content.decode().startswith('<div id="dashboard-grid"')


def test_operators_see_toggle_buttons_and_viewers_do_not(demo, operator_client, viewer_client):
    assert "set lf" in operator_client.get("/").content.decode()
    assert "set lf" not in viewer_client.get("/").content.decode()


def test_a_viewer_cannot_toggle(demo, viewer_client):
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    response = viewer_client.post(f"/members/{zope2.pk}/flags/", {"drain": "1"})
    assert response.status_code == 403
    assert not BalancerMember.objects.get(pk=zope2.pk).drain


def test_an_operator_toggles_and_sees_each_front_end_result(demo, actor, operator_client, closed_port):
    add_frontend(actor, "fe-down", manager_url(closed_port))
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    response = operator_client.post(f"/members/{zope2.pk}/flags/", {"drain": "1"}, follow=True)
    assert BalancerMember.objects.get(pk=zope2.pk).drain
    text = response.content.decode()
    assert "drain on saved" in text and "fe-down: not applied live: refused" in text


def test_the_toggle_needs_csrf(demo, django_user_model):
    user = django_user_model.objects.create_user(username="op", password="pw", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    assert client.post(f"/members/{zope2.pk}/flags/", {"drain": "1"}).status_code == 403


def test_the_guard_rail_asks_for_confirmation_then_forces(demo, actor, operator_client):
    for route in ("zope1", "backup"):
        services.member_set_flags(
            BalancerMember.objects.get(balancer=demo, zope_server__name=route), actor=actor, disabled=True
        )
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    response = operator_client.post(f"/members/{zope2.pk}/flags/", {"disabled": "1"})
    assert response.status_code == 409 and "no usable member" in response.content.decode()
    assert not BalancerMember.objects.get(pk=zope2.pk).disabled
    operator_client.post(f"/members/{zope2.pk}/flags/", {"disabled": "1", "force": "1"})
    assert BalancerMember.objects.get(pk=zope2.pk).disabled


def test_a_bad_load_factor_is_a_message_not_a_500(demo, operator_client):
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    for value in ("abc", "0", "101"):
        response = operator_client.post(f"/members/{zope2.pk}/flags/", {"loadfactor": value}, follow=True)
        assert response.status_code == 200 and "msg-error" in response.content.decode()
    assert BalancerMember.objects.get(pk=zope2.pk).loadfactor == 1


def build(actor, canned_server, closed_port, *, sites: int, balancers: int, frontends: int) -> None:
    call_command("seed_demo", sites=sites, no_user=True, verbosity=0)
    servers = list(ZopeServer.objects.all())
    for i in range(Balancer.objects.count(), balancers):
        balancer = services.balancer_create(actor=actor, name=f"gold{i}")
        for server in servers:
            services.member_create(actor=actor, balancer=balancer, zope_server=server)
    for i in range(FrontEnd.objects.count(), frontends):
        url, _ = canned_server(body=XML)
        if i == frontends - 1 and frontends > 1:
            url = manager_url(closed_port)  # one unreachable
        add_frontend(actor, f"fe{i}", url)
    now = timezone.now()
    StatusSample.objects.bulk_create(
        StatusSample(
            frontend=frontend,
            taken_at=now - datetime.timedelta(seconds=30 * k),
            balancer="bronze",
            member_url=ZopeServer.objects.get(name="zope1").url,
            route="zope1",
            status="Init Ok",
            elected=1000 - k,
            transferred=10_000 - 10 * k,
        )
        for frontend in FrontEnd.objects.all()
        for k in range(120)
    )


def test_the_dashboard_makes_a_constant_number_of_queries(
    db, actor, operator_client, canned_server, closed_port, django_assert_max_num_queries
):
    build(actor, canned_server, closed_port, sites=5, balancers=2, frontends=1)
    poll_once()
    operator_client.get("/")  # warm the session and the user's group cache
    with CaptureQueriesContext(connection) as small:
        assert operator_client.get("/").status_code == 200
    build(actor, canned_server, closed_port, sites=1000, balancers=3, frontends=4)
    poll_once()
    assert Balancer.objects.count() == 3 and FrontEnd.objects.count() == 4
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = operator_client.get("/")
    assert response.status_code == 200
    assert response.content.decode().count('data-state="refused"') >= 1


def test_status_overview_is_json_safe_and_carries_history(db, actor, canned_server, closed_port):
    build(actor, canned_server, closed_port, sites=3, balancers=2, frontends=2)
    overview = status_overview_mod.status_overview(live=True)
    json.dumps(overview)
    bronze = next(b for b in overview["balancers"] if b["name"] == "bronze")
    zope1 = next(m for m in bronze["members"] if m["route"] == "zope1")
    assert sum(zope1["history"]["elected"]) == 119 * 2  # one request per 30 s sample, on two front-ends
    assert sum(zope1["history"]["traffic"]) == 1190 * 2
    assert [f["state"] for f in overview["frontends"]] == ["ok", "refused"]


def test_polling_stores_one_sample_per_live_member_and_prunes_old_ones(demo, actor, canned_server, closed_port):
    ok_url, _ = canned_server(body=XML)
    add_frontend(actor, "fe-ok", ok_url)
    add_frontend(actor, "fe-down", manager_url(closed_port))
    old = StatusSample.objects.create(
        frontend=FrontEnd.objects.get(name="fe-ok"),
        taken_at=timezone.now() - datetime.timedelta(days=1),
        balancer="bronze",
        member_url="http://x",
    )
    result = poll_once()
    assert (result.hosts, result.hosts_ok, result.samples, result.pruned) == (2, 1, 6, 1)
    assert "fe-down: refused" in result.failures[0]
    assert not StatusSample.objects.filter(pk=old.pk).exists()
    zope2 = StatusSample.objects.get(route="zope2", balancer="bronze")
    assert zope2.status == "Init Err" and zope2.elected == 3 and zope2.transferred == 430


def test_the_poll_command_runs_bounded_rounds(demo, actor, canned_server, capsys):
    ok_url, _ = canned_server(body=XML)
    add_frontend(actor, "fe-ok", ok_url)
    call_command("poll_status", "--loop", "--rounds", "2", "--interval", "1")
    out = capsys.readouterr().out
    assert out.count("1/1 front-ends answered, 6 samples stored") == 2
    assert StatusSample.objects.count() == 12
