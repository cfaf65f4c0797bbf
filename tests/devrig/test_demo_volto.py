"""The demo's Volto site: `seed_demo --volto` (a Node.js frontend balancer over volto1 and volto2, the site
volto.example with its Classic UI at /ClassicUI), and the Node.js frontend stand-ins the demo runs for them."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from django.core.management import call_command

from balancers.models import Balancer, ZopeServer
from devrig import demo as demo_frontend
from devrig.net import free_port, http_get
from sites.models import Site
from tests.realparts import require_binary


def test_seed_demo_volto_adds_a_frontend_pool_and_a_volto_site_once(db):
    for _ in range(2):  # idempotent
        call_command("seed_demo", sites=0, no_user=True, volto=True, stdout=io.StringIO())
    pool = Balancer.objects.get(name="volto-demo")
    assert pool.kind == "node"
    members = pool.members.select_related("zope_server").order_by("zope_server__name")
    assert [(m.zope_server.name, m.zope_server.port, m.zope_server.health_path) for m in members] == [
        ("volto1", 18104, "/ok"),
        ("volto2", 18105, "/ok"),
    ]
    site = Site.objects.get(domain="volto.example")
    assert (site.kind, site.balancer.name, site.frontend_balancer, site.classic_ui_path) == (
        "volto",
        "bronze",
        pool,
        "/ClassicUI",
    )
    assert ZopeServer.objects.filter(kind="node").count() == 2


def test_without_volto_seed_demo_adds_no_node_server(db):
    call_command("seed_demo", sites=0, no_user=True, stdout=io.StringIO())
    assert not ZopeServer.objects.filter(kind="node").exists()
    assert not Site.objects.filter(domain="volto.example").exists()


def test_the_demo_runs_node_stand_ins_that_answer_ok_and_name_themselves(db):
    call_command("seed_demo", sites=0, no_user=True, volto=True, stdout=io.StringIO())
    for server in ZopeServer.objects.all():  # the demo's fixed ports may be taken on a test machine
        ZopeServer.objects.filter(pk=server.pk).update(port=free_port())
    servers = demo_frontend.demo_backend_list()
    assert {(name, kind) for name, _, kind in servers} >= {("volto1", "node"), ("zope1", "zope")}
    backends = demo_frontend.DemoBackends(servers).start()
    try:
        ports = {name: port for name, port, _ in servers}
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['volto1']}/ok", timeout=5) as resp:
            assert resp.read() == b"ok" and resp.headers["Content-Type"].startswith("text/plain")
        request = urllib.request.Request(f"http://127.0.0.1:{ports['volto2']}/news", headers={"Host": "volto.example"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            answer = json.load(resp)
        assert resp.headers["X-Frontend"] == "volto2"
        assert (answer["frontend"], answer["host"], answer["path"]) == ("volto2", "volto.example", "/news")
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['zope1']}/ok", timeout=5) as resp:
            assert b"Served by zope1" in resp.read()  # a Zope stand-in keeps its page
    finally:
        backends.stop()


@pytest.mark.real
def test_through_the_demo_apache_the_volto_site_pages_come_from_node_and_its_api_from_zope(db, settings, tmp_path):
    require_binary("apache2")
    settings.VAR_DIR = tmp_path / "var"
    call_command("seed_demo", sites=0, no_user=True, volto=True, stdout=io.StringIO())
    for server in ZopeServer.objects.all():  # the demo's fixed ports may be taken on a test machine
        ZopeServer.objects.filter(pk=server.pk).update(port=free_port())
    http_port, manager_port = free_port(), free_port()
    backends = demo_frontend.DemoBackends(demo_frontend.demo_backend_list()).start()
    try:
        out = io.StringIO()
        call_command("demo_frontend", "start", "--deploy", http_port=http_port, manager_port=manager_port, stdout=out)
        assert "Deployed to the demo front-end: succeeded" in out.getvalue()
        page = http_get(http_port, "/news", host="volto.example")
        assert page.status == 200 and page.headers["X-Frontend"] in {"volto1", "volto2"}
        api = http_get(http_port, "/++api++/", host="volto.example")
        assert api.status == 200 and api.headers["X-Backend"] in {"zope1", "zope2"}
        assert "/Plone" in api.body  # the VirtualHostMonster path of the Plone site, built by the front-end
    finally:
        call_command("demo_frontend", "stop", stdout=io.StringIO())
        backends.stop()
