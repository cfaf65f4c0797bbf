"""Volto and frontend-only sites on a real standalone Apache, in front of Zope stand-ins (devrig.backends) and
Node.js frontend stand-ins (devrig.node) with Volto's own /++api++ proxy OFF, so a request the front-end
misroutes fails loudly: both tiers answer through HostPanel's config, the API carries the public host and
scheme, the API path is sticky, the Classic UI path is for the staff networks only, a suspended site is
Apache's, and the frontend's static assets are cached for a year."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import ssl

import pytest

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import free_port_block, free_ports
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate

pytestmark = pytest.mark.real

PUBLIC = ("10.0.0.0/8",)  # 127.0.0.1 is not staff
STAFF = ("127.0.0.0/8",)  # 127.0.0.1 is staff


@dataclasses.dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def zope(self) -> str | None:
        return self.headers.get("X-Backend")

    @property
    def node(self) -> str | None:
        return self.headers.get("X-Frontend")


def ask(port, host, path="/", *, method="GET", cookie="", root_pem=None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if root_pem is not None:
        context = ssl.create_default_context(cadata=root_pem)
        conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname=host)
    headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return Answer(resp.status, body, dict(resp.getheaders()))


@dataclasses.dataclass
class Rig:
    http_port: int
    https_port: int
    apache: object
    zopes: dict
    nodes: dict
    root_pem: str


@pytest.fixture
def volto_rig(db, tmp_path, actor, backend_factory, node_factory, apache_factory, test_pki, secrets_key):
    """rig(staff_networks) -> Rig: Zope balancer bronze (zope1, zope2: separate databases), Node.js balancer
    front (volto1, volto2); volto.example (Volto, Classic UI at /ClassicUI, a certificate), app.example
    (frontend only), plain.example (Classic UI site), lean.example (Volto without options or Classic UI path),
    paused.example (Volto, suspended)."""

    def make(staff_networks):
        zopes = {name: backend_factory(name) for name in ("zope1", "zope2")}
        nodes = {name: node_factory(name) for name in ("volto1", "volto2")}
        bronze = balancer_services.balancer_create(actor=actor, name="bronze")
        front = balancer_services.balancer_create(actor=actor, name="front", kind="node")
        for name, backend in zopes.items():
            server = balancer_services.zope_server_create(actor=actor, name=name, host="127.0.0.1", port=backend.port)
            balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
        for name, node in nodes.items():
            server = balancer_services.zope_server_create(
                actor=actor, name=name, kind="node", host="127.0.0.1", port=node.port
            )
            assert server.health_path == "/ok"  # a Node.js server's default health check
            balancer_services.member_create(actor=actor, balancer=front, zope_server=server)
        volto = site_services.site_create(
            actor=actor,
            domain="volto.example",
            aliases=["www.volto.example"],
            balancer=bronze,
            plone_path="/plone/volto",
            kind="volto",
            frontend_balancer="front",
            classic_ui_path="/ClassicUI",
            https_redirect=False,
        )
        give_certificate(volto, test_pki)
        site_services.site_create(
            actor=actor,
            domain="app.example",
            balancer=bronze,
            plone_path="/plone/app",
            kind="frontend_only",
            frontend_balancer=front,
        )
        site_services.site_create(actor=actor, domain="plain.example", balancer=bronze, plone_path="/plone/plain")
        site_services.site_create(  # no option, no Classic UI path: routed before the options block
            actor=actor,
            domain="lean.example",
            balancer=bronze,
            plone_path="/lean",
            kind="volto",
            frontend_balancer=front,
        )
        paused = site_services.site_create(
            actor=actor,
            domain="paused.example",
            balancer=bronze,
            plone_path="/plone/paused",
            kind="volto",
            frontend_balancer=front,
        )
        site_services.site_suspend(paused, actor=actor, reason="unpaid")
        http_port, https_port = free_ports(2)
        config_dir = tmp_path / "hostpanel"
        frontend = balancer_services.frontend_create(
            actor=actor,
            name="volto",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            node_port_base=free_port_block(1),
        )
        tree = render_tree(dataclasses.replace(load_snapshot(), staff_networks=staff_networks), frontend)
        write_tree(tree, config_dir)
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"])
        check = apache.configtest()
        assert check.ok, check.output
        apache.start()
        return Rig(http_port, https_port, apache, zopes, nodes, test_pki.root_pem)

    return make


def test_a_volto_page_goes_to_the_frontend_with_the_clients_host_and_scheme(volto_rig):
    rig = volto_rig(PUBLIC)
    page = ask(rig.http_port, "www.volto.example", "/news/item?x=1")
    assert page.status == 200, rig.apache.error_log()[-2000:]
    assert page.node in rig.nodes and page.zope is None
    assert page.json["path"] == "/news/item?x=1"  # the client's own path: no VirtualHostMonster for Node
    assert page.json["host"] == "www.volto.example"  # Host as the client sent it (ProxyPreserveHost)
    assert page.json["proto"] == "http"
    assert page.json["forwarded_for"] == "127.0.0.1"
    assert "Set-Cookie" not in page.headers  # a frontend pool is stateless: no sticky cookie
    secure = ask(rig.https_port, "volto.example", "/", root_pem=rig.root_pem)
    assert secure.status == 200 and secure.node in rig.nodes
    assert secure.json["proto"] == "https" and secure.json["host"] == "volto.example"


def test_the_api_goes_to_zope_with_the_public_host_and_scheme_in_the_vhm_path(volto_rig):
    rig = volto_rig(PUBLIC)
    api = ask(rig.http_port, "www.volto.example", "/++api++/news/@search?b=1")
    assert api.status == 200 and api.zope in rig.zopes and api.node is None
    assert (
        api.json["path"]
        == "/VirtualHostBase/http/www.volto.example:80/plone/volto/++api++/VirtualHostRoot/news/@search?b=1"
    )
    root = ask(rig.http_port, "volto.example", "/++api++")
    assert root.json["path"] == "/VirtualHostBase/http/volto.example:80/plone/volto/++api++/VirtualHostRoot"
    secure = ask(rig.https_port, "volto.example", "/++api++/", root_pem=rig.root_pem)
    assert secure.zope in rig.zopes
    assert secure.json["path"] == "/VirtualHostBase/https/volto.example:443/plone/volto/++api++/VirtualHostRoot/"
    # a path that merely starts like the API is the frontend's
    assert ask(rig.http_port, "volto.example", "/++api++x").node in rig.nodes
    assert all(not node.requests or all("++api++/" not in r.path for r in node.requests) for node in rig.nodes.values())


def test_the_api_path_is_sticky_like_a_classic_site(volto_rig):
    rig = volto_rig(PUBLIC)
    first = ask(rig.http_port, "volto.example", "/++api++/@login", method="POST")
    cookie = first.headers["Set-Cookie"].split(";", 1)[0]
    assert cookie == f"BALANCEID=balancer.{first.zope}"
    served = {ask(rig.http_port, "volto.example", "/++api++/@users", cookie=cookie).zope for _ in range(20)}
    assert served == {first.zope}
    # and pages keep going to the frontend pool with that cookie (it names no Node route)
    assert ask(rig.http_port, "volto.example", "/", cookie=cookie).node in rig.nodes


def test_the_classic_ui_path_is_for_the_staff_networks_only(volto_rig):
    rig = volto_rig(PUBLIC)
    assert ask(rig.http_port, "volto.example", "/ClassicUI/folder_contents").status == 403
    assert ask(rig.http_port, "volto.example", "/ClassicUI").status == 403
    assert all(not z.requests for z in rig.zopes.values())
    # another path starting with the same letters is an ordinary page
    assert ask(rig.http_port, "volto.example", "/ClassicUIx").node in rig.nodes


def test_a_staff_client_reaches_the_classic_ui_through_zope_with_vh_segment(volto_rig):
    rig = volto_rig(STAFF)
    answer = ask(rig.http_port, "volto.example", "/ClassicUI/folder_contents")
    assert answer.status == 200 and answer.zope in rig.zopes
    assert (
        answer.json["path"]
        == "/VirtualHostBase/http/volto.example:80/plone/volto/VirtualHostRoot/_vh_ClassicUI/folder_contents"
    )
    bare = ask(rig.https_port, "volto.example", "/ClassicUI", root_pem=rig.root_pem)
    assert bare.json["path"] == "/VirtualHostBase/https/volto.example:443/plone/volto/VirtualHostRoot/_vh_ClassicUI"


def test_a_frontend_only_site_sends_everything_to_the_frontend(volto_rig):
    rig = volto_rig(STAFF)
    for path in ("/", "/ClassicUI", "/manage_main"):
        answer = ask(rig.http_port, "app.example", path)
        assert answer.node in rig.nodes, path
        assert answer.json["host"] == "app.example"
    # its API stays behind the Node.js application: the front-end never sends /++api++ to Zope
    api = ask(rig.http_port, "app.example", "/++api++/")
    assert api.node in rig.nodes and api.status == 404  # the stand-in's own proxy is off
    assert all(not z.requests for z in rig.zopes.values())


def test_static_assets_of_the_frontend_are_cached_for_a_year_and_pages_are_not(volto_rig):
    rig = volto_rig(PUBLIC)
    immutable = "public, max-age=31536000, immutable"
    assert ask(rig.http_port, "volto.example", "/static/js/client.3f2a9c1b.js").headers["Cache-Control"] == immutable
    bundle = ask(rig.http_port, "volto.example", "/assets/main.0123abcd4567.chunk.css")
    assert bundle.headers.get("Cache-Control") == immutable
    assert "immutable" not in ask(rig.http_port, "volto.example", "/news").headers.get("Cache-Control", "")
    assert "immutable" not in ask(rig.http_port, "volto.example", "/++api++/static/x").headers.get("Cache-Control", "")
    assert ask(rig.http_port, "volto.example", "/ok").headers.get("Cache-Control") == "private, no-cache"


def test_a_suspended_volto_site_is_answered_by_apache_on_every_path(volto_rig):
    rig = volto_rig(PUBLIC)
    for path in ("/", "/++api++/", "/static/x.js"):
        answer = ask(rig.http_port, "paused.example", path)
        assert answer.status == 503 and answer.zope is None and answer.node is None, path
    assert all(not n.requests for n in rig.nodes.values())


def test_classic_sites_and_the_release_proof_are_unchanged(volto_rig):
    rig = volto_rig(PUBLIC)
    plain = ask(rig.http_port, "plain.example", "/front")
    assert plain.zope in rig.zopes
    assert plain.json["path"] == "/VirtualHostBase/http/plain.example:80/plone/plain/VirtualHostRoot/front"
    assert ask(rig.http_port, "volto.example", "/.well-known/hostpanel-release").status == 200
    assert ask(rig.http_port, "unknown.example").status == 404


def test_a_second_site_on_the_same_frontend_pool_gets_its_own_public_urls(volto_rig):
    """Volto's own proxy keeps the first Host it saw; routing ++api++ to Zope gives each site its own."""
    rig = volto_rig(PUBLIC)
    ask(rig.http_port, "volto.example", "/")
    first = ask(rig.http_port, "volto.example", "/++api++/").json["path"]
    second = ask(rig.http_port, "www.volto.example", "/++api++/").json["path"]
    assert "/volto.example:80/" in first and "/www.volto.example:80/" in second


def test_a_volto_site_without_options_is_routed_the_same_before_the_options_block(volto_rig):
    rig = volto_rig(PUBLIC)
    page = ask(rig.http_port, "lean.example", "/a/b")
    assert page.node in rig.nodes and page.json["host"] == "lean.example" and page.json["path"] == "/a/b"
    api = ask(rig.http_port, "lean.example", "/++api++/a")
    assert api.json["path"] == "/VirtualHostBase/http/lean.example:80/lean/++api++/VirtualHostRoot/a"
    cookie = api.headers["Set-Cookie"].split(";", 1)[0]
    assert {ask(rig.http_port, "lean.example", "/++api++/", cookie=cookie).zope for _ in range(10)} == {api.zope}
    asset = ask(rig.http_port, "lean.example", "/static/css/main.0a1b2c3d.css")
    assert asset.node in rig.nodes and asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert ask(rig.http_port, "lean.example", "/ClassicUI").node in rig.nodes  # it has no Classic UI path
    secure = ask(rig.https_port, "volto.example", "/++api++/x", root_pem=rig.root_pem)
    assert secure.json["path"].startswith("/VirtualHostBase/https/volto.example:443/plone/volto/++api++/")
