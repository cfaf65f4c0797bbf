"""Volto sites through HostPanel's RENDERED config on a real Apache: a real Volto 18 build as the frontend pool
and real Plone 6.2 (two Zope instances with separate ZODBs) as the Zope balancer, over HTTPS.

Pages come from Node with the public https URLs; `/++api++` goes straight to Zope (Node's own proxy is off, so
a misroute would fail), sticky, so a login token keeps working; a second site on the same pool gets answers
that carry ITS host name (Volto's proxy would have kept the first one it saw)."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import Visitor, free_port_block, free_ports
from devrig.plone import ADMIN, VOLTO_PATH
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.assertions import assert_public_page
from tests.factories import give_certificate

pytestmark = [pytest.mark.real, pytest.mark.plone]

FIRST, SECOND = "volto.example", "second.example"


@pytest.fixture
def front(db, tmp_path, actor, plone_zopes, volto_node, apache_factory, test_pki, secrets_key) -> int:
    """HostPanel's rendered tree on a real Apache (HTTPS port returned): Zope balancer `plone` (instances a and b),
    Node.js balancer `volto` (the real Volto server), Volto sites volto.example and second.example, each with a
    certificate, both on the same Plone site and pool (one customer's build)."""
    zope_balancer = balancer_services.balancer_create(actor=actor, name="plone")
    for zope in plone_zopes:
        server = balancer_services.zope_server_create(
            actor=actor, name=f"plone-{zope.database}", host="127.0.0.1", port=zope.port
        )
        balancer_services.member_create(actor=actor, balancer=zope_balancer, zope_server=server)
    node_balancer = balancer_services.balancer_create(actor=actor, name="volto", kind="node")
    node_server = balancer_services.zope_server_create(
        actor=actor, name="volto-1", kind="node", host="127.0.0.1", port=volto_node.port
    )
    balancer_services.member_create(actor=actor, balancer=node_balancer, zope_server=node_server)
    for domain in (FIRST, SECOND):
        site = site_services.site_create(
            actor=actor,
            domain=domain,
            balancer=zope_balancer,
            plone_path=VOLTO_PATH,
            kind="volto",
            frontend_balancer=node_balancer,
        )
        give_certificate(site, test_pki)
    http_port, https_port = free_ports(2)
    config_dir = tmp_path / "hostpanel"
    frontend = balancer_services.frontend_create(
        actor=actor,
        name="fe",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{http_port}",
        https_listen=f"127.0.0.1:{https_port}",
        node_port_base=free_port_block(4),
    )
    write_tree(render_tree(load_snapshot(), frontend), config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"])
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()
    return https_port


def test_a_volto_page_is_rendered_by_node_with_the_public_urls(front, test_pki):
    page = Visitor(front, FIRST, test_pki.root_pem).request("GET", "/", accept="text/html")
    assert page.status == 200, page.body[:500]
    assert_public_page(page, f"https://{FIRST}")


def test_the_api_goes_straight_to_zope_and_names_the_public_url(front, test_pki):
    answer = Visitor(front, FIRST, test_pki.root_pem).request("GET", "/++api++/")
    assert answer.status == 200, answer.body[:500]
    root = answer.json()
    assert root["@id"] == f"https://{FIRST}"
    assert all(item["@id"].startswith(f"https://{FIRST}/") for item in root["items"])


def test_a_login_token_works_on_20_following_calls_on_the_sticky_api_path(front, test_pki):
    visitor = Visitor(front, FIRST, test_pki.root_pem)
    login = visitor.request("POST", "/++api++/@login", body={"login": ADMIN[0], "password": ADMIN[1]})
    assert login.status == 200, login.body[:500]
    token = login.json()["token"]
    assert visitor.cookies, "the front-end set its route cookie with the login answer"

    statuses = [visitor.request("GET", f"/++api++/@users/{ADMIN[0]}", token=token).status for _ in range(20)]

    assert statuses == [200] * 20


def test_a_second_sites_api_answers_carry_its_own_host(front, test_pki):
    first = Visitor(front, FIRST, test_pki.root_pem)
    second = Visitor(front, SECOND, test_pki.root_pem)
    assert first.request("GET", "/", accept="text/html").status == 200  # the pool has seen the first site
    assert first.request("GET", "/++api++/").json()["@id"] == f"https://{FIRST}"

    answer = second.request("GET", "/++api++/")
    page = second.request("GET", "/", accept="text/html")

    assert answer.json()["@id"] == f"https://{SECOND}"
    assert FIRST not in answer.body
    assert_public_page(page, f"https://{SECOND}")
    assert FIRST not in page.body
