"""The rendered tree on a real standalone Apache in front of three real HTTP backends, both modes."""

from __future__ import annotations

import http.client
import json
import urllib.request

import pytest
from defusedxml import ElementTree

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import free_port, free_port_block
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services

pytestmark = pytest.mark.real


class Client:
    """A browser stand-in talking to 127.0.0.1:port with any Host, keeping the sticky cookie itself
    (a cookie jar would refuse a linux.co.uk cookie from 127.0.0.1)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None  # "BALANCEID=balancer.zope1"

    def get(self, host: str, path: str = "/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": host}
        if self.cookie:
            headers["Cookie"] = self.cookie
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        conn.close()
        cookies = [v for k, v in resp.getheaders() if k.lower() == "set-cookie"]
        for cookie in cookies:
            if cookie.startswith("BALANCEID="):
                self.cookie = cookie.split(";", 1)[0]
        resp.cookies = cookies
        resp.text = body
        resp.backend = json.loads(body)["backend"] if resp.getheader("X-Backend") else None
        return resp


@pytest.fixture
def running(db, tmp_path, actor, backend_factory, apache_factory):
    """Three backends (zope1, zope2: lbset 1; backup: lbset 2 hot standby), balancer bronze, sites
    linux.co.uk (+ www.linux.co.uk) and suspended.example, rendered in the requested mode and served."""

    def start(mode: str):
        backends = {name: backend_factory(name) for name in ("zope1", "zope2", "backup")}
        servers = {
            name: balancer_services.zope_server_create(actor=actor, name=name, host="127.0.0.1", port=b.port)
            for name, b in backends.items()
        }
        bronze = balancer_services.balancer_create(actor=actor, name="bronze", render_mode=mode)
        for name, lbset, hot in (("zope1", 1, False), ("zope2", 1, False), ("backup", 2, True)):
            balancer_services.member_create(
                actor=actor, balancer=bronze, zope_server=servers[name], lbset=lbset, hot_standby=hot
            )
        site_services.site_create(
            actor=actor, domain="linux.co.uk", aliases=["www.linux.co.uk"], balancer=bronze, plone_path="/plone/linux"
        )
        suspended = site_services.site_create(
            actor=actor, domain="suspended.example", balancer=bronze, plone_path="/plone/suspended"
        )
        site_services.site_suspend(suspended, actor=actor, reason="unpaid")
        port = free_port()
        config_dir = tmp_path / "hostpanel"
        frontend = balancer_services.frontend_create(
            actor=actor,
            name="e2e",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{port}",
            node_address="127.0.0.1",
            node_port_base=free_port_block(3),
        )
        write_tree(render_tree(load_snapshot(), frontend), config_dir)
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"], manager=True)
        check = apache.configtest()
        assert check.ok, check.output
        apache.start()
        return backends, Client(port), apache

    return start


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_client_sticks_to_one_zope_fails_over_then_reaches_the_hot_standby(running, mode):
    backends, client, apache = running(mode)

    first = client.get("linux.co.uk", "/front-page")
    assert first.status == 200, apache.error_log()[-2000:]
    route = first.backend
    assert route in {"zope1", "zope2"}
    assert client.cookie == f"BALANCEID=balancer.{route}"  # the seed's cookie format
    if mode == "single-pass":
        assert any("HttpOnly" in c for c in first.cookies), first.cookies
    else:  # the node's CO cookie is for the host the client asked for (aliases on other domains stay sticky)
        assert any("domain=linux.co.uk" in c for c in first.cookies), first.cookies

    for i in range(20):
        resp = client.get("linux.co.uk", f"/page{i}?q={i}")
        assert (resp.status, resp.backend) == (200, route)
    seen = backends[route].requests[-1]
    assert seen.path == "/VirtualHostBase/http/linux.co.uk:80/plone/linux/VirtualHostRoot/page19?q=19"
    assert seen.host == "linux.co.uk"
    assert backends["backup"].requests == []

    alias = client.get("www.linux.co.uk", "/news")
    assert (alias.status, alias.backend) == (200, route)
    seen = backends[route].requests[-1]
    assert seen.path == "/VirtualHostBase/http/www.linux.co.uk:80/plone/linux/VirtualHostRoot/news"
    assert seen.host == "www.linux.co.uk"

    # The sticky Zope dies: the client moves to the other lbset-1 member.
    other = "zope2" if route == "zope1" else "zope1"
    backends[route].stop()
    statuses = []
    for _ in range(3):
        resp = client.get("linux.co.uk", "/after-failover")
        statuses.append(resp.status)
        if resp.status == 200:
            break
    assert resp.backend == other, (statuses, apache.error_log()[-2000:])
    if mode == "single-pass":
        assert statuses == [200]  # no error at all
    else:
        assert statuses.count(503) <= 1  # a node vhost hides its dead Zope until failonstatus=503 counts it
    assert client.cookie == f"BALANCEID=balancer.{other}"
    for _ in range(5):
        assert client.get("linux.co.uk", "/stays").backend == other

    # Both lbset-1 members down: the hot-standby member (lbset 2, +H) serves.
    backends[other].stop()
    statuses = []
    for _ in range(3):
        resp = client.get("linux.co.uk", "/standby")
        statuses.append(resp.status)
        if resp.status == 200:
            break
    assert resp.backend == "backup", (statuses, apache.error_log()[-2000:])
    if mode == "single-pass":
        assert statuses == [200]
    for _ in range(5):
        assert client.get("linux.co.uk", "/standby-again").backend == "backup"

    # Everything down: Apache's own 503 page (the ErrorDocument), not a proxied one.
    backends["backup"].stop()
    statuses, resp = [], None
    for _ in range(3):
        resp = client.get("linux.co.uk", "/nothing")
        statuses.append(resp.status)
    assert statuses[-1] == 503
    assert "temporarily unavailable" in resp.text, (statuses, resp.text[-600:], apache.error_log()[-3000:])


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_suspended_site_is_answered_by_apache_and_never_reaches_a_backend(running, mode):
    backends, client, apache = running(mode)
    for path in ("/", "/login", "/hostpanel-suspended.html", "/hostpanel-503.html", "/ERROR_503.html"):
        resp = client.get("suspended.example", path)
        assert resp.status == 503, path
        assert resp.getheader("Retry-After") == "3600"
        assert "This site is suspended" in resp.text
        assert resp.cookies == []
    assert all(b.requests == [] for b in backends.values())
    # An unknown host gets the catch-all's 404, not a client's site.
    assert client.get("unknown.example", "/").status == 404
    assert all(b.requests == [] for b in backends.values())
    # The live site next to it still works.
    assert client.get("linux.co.uk", "/").status == 200


def test_the_balancer_manager_shows_the_rendered_members_with_routes_and_states(running):
    backends, client, apache = running("single-pass")

    request = urllib.request.Request(apache.manager_url + "?xml=1", headers={"Referer": apache.manager_url})
    with urllib.request.urlopen(request, timeout=10) as resp:
        root = ElementTree.fromstring(resp.read())
    ns = {"httpd": "http://httpd.apache.org"}
    (balancer,) = root.findall("httpd:balancers/httpd:balancer", ns)
    assert balancer.findtext("httpd:name", namespaces=ns) == "balancer://bronze"
    assert balancer.findtext("httpd:stickysession", namespaces=ns) == "BALANCEID"
    workers = {
        w.findtext("httpd:name", namespaces=ns): (
            w.findtext("httpd:route", namespaces=ns) or "",
            w.findtext("httpd:lbset", namespaces=ns),
            w.findtext("httpd:status", namespaces=ns),
        )
        for w in balancer.findall("httpd:workers/httpd:worker", ns)
    }
    assert workers[backends["zope1"].url][:2] == ("zope1", "1")
    assert workers[backends["zope2"].url][:2] == ("zope2", "1")
    route, lbset, status = workers[backends["backup"].url]
    assert (route, lbset) == ("", "2") and "Stby" in status
