"""Real Plone 6.2 (plone.restapi) behind a real Apache serving HostPanel's rendered config: two Zope instances
with separate ZODBs as the members of one balancer, a site with a certificate from the test PKI.

The REST API through the front-end names the public https URL; a login token is accepted by the instance
that issued it only (its keyring secret lives in its own database), so the route cookie keeps the client on
that instance for every following call. The Classic UI page comes from real Plone with public URLs too."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import Visitor, free_port_block, free_ports, http_get
from devrig.plone import ADMIN, CLASSIC_PATH
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate

pytestmark = [pytest.mark.real, pytest.mark.plone]

DOMAIN = "classic.example"
PUBLIC = f"https://{DOMAIN}"


@pytest.fixture
def front(db, tmp_path, actor, plone_zopes, apache_factory, test_pki, secrets_key):
    """HostPanel's rendered config on a real Apache (HTTP and HTTPS): balancer `plone` with the two real Zope
    instances as members, site classic.example at /Plone with a certificate. Returns (https port, http port)."""
    balancer = balancer_services.balancer_create(actor=actor, name="plone")
    for zope in plone_zopes:
        server = balancer_services.zope_server_create(
            actor=actor, name=f"plone-{zope.database}", host="127.0.0.1", port=zope.port
        )
        balancer_services.member_create(actor=actor, balancer=balancer, zope_server=server)
    site = site_services.site_create(actor=actor, domain=DOMAIN, balancer=balancer, plone_path=CLASSIC_PATH)
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
        node_port_base=free_port_block(2),
    )
    write_tree(render_tree(load_snapshot(), frontend), config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"])
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()
    return https_port, http_port


@pytest.fixture
def visitor(front, test_pki) -> Visitor:
    return Visitor(front[0], DOMAIN, test_pki.root_pem)


def test_the_api_root_through_the_front_end_names_the_public_https_url(visitor, plone_zopes):
    answer = visitor.request("GET", "/++api++/")
    assert answer.status == 200, answer.body[:500]
    assert answer.header("Content-Type").startswith("application/json")
    root = answer.json()
    assert root["@id"] == PUBLIC
    assert root["@type"] == "Plone Site"
    assert root["items"], "the site has its default content"
    assert all(item["@id"].startswith(PUBLIC + "/") for item in root["items"]), root["items"]
    for zope in plone_zopes:  # no internal address leaks into the answer
        assert f":{zope.port}" not in answer.body
    assert "127.0.0.1" not in answer.body


def test_a_login_token_works_on_20_following_calls_because_the_route_cookie_keeps_its_instance(visitor, plone_zopes):
    login = visitor.request("POST", "/++api++/@login", body={"login": ADMIN[0], "password": ADMIN[1]})
    assert login.status == 200, login.body[:500]
    token = login.json()["token"]
    assert visitor.cookies, "the front-end set its route cookie with the login answer"

    statuses = [visitor.request("GET", "/++api++/@users/" + ADMIN[0], token=token).status for _ in range(20)]

    assert statuses == [200] * 20
    # Why it must be sticky: each instance signs with the keyring secret in its own ZODB.
    accepted = [
        http_get(
            zope.port,
            f"{CLASSIC_PATH}/++api++/@users/{ADMIN[0]}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        ).status
        for zope in plone_zopes
    ]
    assert sorted(accepted) == [200, 401], accepted


def test_requests_without_a_route_cookie_reach_both_instances(front, test_pki, plone_zopes):
    routes = set()
    for _ in range(8):
        fresh = Visitor(front[0], DOMAIN, test_pki.root_pem)
        assert fresh.request("GET", "/++api++/").status == 200
        routes.add(tuple(sorted(fresh.cookies.items())))
    assert len(routes) == 2, routes


def test_an_anonymous_api_call_with_a_token_from_nowhere_is_refused(visitor):
    assert visitor.request("GET", "/++api++/@users/" + ADMIN[0], token="not.a.token").status == 401


def test_the_classic_ui_page_is_rendered_by_plone_with_public_urls(visitor):
    page = visitor.request("GET", "/", accept="text/html")
    assert page.status == 200, page.body[:500]
    assert page.header("Content-Type").startswith("text/html")
    assert 'content="Plone' in page.body  # the generator meta of a page Plone rendered
    assert f'href="{PUBLIC}/' in page.body
    assert "127.0.0.1" not in page.body


def test_plain_http_redirects_to_the_https_site(front):
    answer = http_get(front[1], "/++api++/", host=DOMAIN)
    assert answer.status == 301
    assert answer.headers["Location"] == f"{PUBLIC}/++api++/"
