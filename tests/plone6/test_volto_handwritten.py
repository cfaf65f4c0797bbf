"""A real Volto 18 build and real Plone 6.2 behind a real Apache with the hand-written two-balancer config
(devrig.handwritten.volto_two_balancer_config, Volto's deployment docs' shape, over HTTPS): the baseline
HostPanel's rendered Volto config is compared with, and proof that the parts work as the docs say.

Pages come from Node (server-side rendered from Zope's REST API) with the public https URLs; `/++api++` goes to
Zope through the VirtualHostMonster; Node's own /++api++ proxy is off, so Node alone gives no API answer."""

from __future__ import annotations

import pytest

from devrig import volto
from devrig.apache import write_tree
from devrig.handwritten import volto_two_balancer_config
from devrig.net import Visitor, free_port, http_get
from devrig.plone import ADMIN, VOLTO_PATH
from devrig.volto import VoltoServer
from tests.assertions import assert_public_page

pytestmark = [pytest.mark.real, pytest.mark.plone]

DOMAIN = "volto.example"
PUBLIC = f"https://{DOMAIN}"


@pytest.fixture
def handwritten(tmp_path, plone_zopes, volto_node, apache_factory, test_pki) -> Visitor:
    upload = test_pki.issue([DOMAIN])
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "cert.pem").write_text(upload["certificate_pem"] + upload["chain_pem"])
    (tls / "key.pem").write_text(upload["private_key_pem"])
    (tls / "key.pem").chmod(0o600)
    port = free_port()
    config_dir = tmp_path / "handwritten"
    text = volto_two_balancer_config(
        listen=f"127.0.0.1:{port}",
        zope=[f"127.0.0.1:{zope.port}" for zope in plone_zopes],
        node=[f"127.0.0.1:{volto_node.port}"],
        sites={DOMAIN: VOLTO_PATH},
        scheme="https",
        certificate=(str(tls / "cert.pem"), str(tls / "key.pem")),
    )
    write_tree({"hostpanel.conf": text}, config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port} https"])
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()
    return Visitor(port, DOMAIN, test_pki.root_pem)


def test_the_page_is_rendered_by_node_from_zope_with_the_public_urls(handwritten, volto_node):
    page = handwritten.request("GET", "/", accept="text/html")
    assert page.status == 200, page.body[:500]
    assert_public_page(page, PUBLIC)


def test_the_api_goes_to_zope_and_names_the_public_url(handwritten):
    answer = handwritten.request("GET", "/++api++/")
    assert answer.status == 200, answer.body[:500]
    root = answer.json()
    assert root["@id"] == PUBLIC
    assert all(item["@id"].startswith(PUBLIC + "/") for item in root["items"])


def test_the_node_server_answers_its_health_check_and_not_the_api(volto_node):
    health = http_get(volto_node.port, "/ok")
    assert (health.status, health.body.strip()) == (200, "ok")
    misrouted = http_get(volto_node.port, "/++api++/", headers={"Accept": "application/json"})
    # Volto's /++api++ proxy is off: a config that sends the API to Node gets no API answer
    assert misrouted.status != 200, misrouted.body[:300]
    assert not misrouted.headers.get("Content-Type", "").startswith("application/json")


def test_with_voltos_own_proxy_a_config_without_the_api_rule_answers_the_second_site_with_the_first_host(
    tmp_path, plone_zopes, apache_factory
):
    """Why the API must go straight to Zope: a front-end that sends everything to Node seems to work while
    Volto proxies /++api++ itself, but that proxy keeps the first Host it saw, so the second site's API answers
    carry the first site's URLs."""
    zope = plone_zopes[0]
    node = VoltoServer(
        volto.built(),
        internal_api=zope.url(VOLTO_PATH),
        dev_proxy=zope.url(VOLTO_PATH),
        log=tmp_path / "volto-with-proxy.log",
    ).start()
    try:
        port = free_port()
        everything_to_node = "".join(
            f"<VirtualHost 127.0.0.1:{port}>\n    ServerName {name}\n    ProxyPreserveHost On\n"
            f"    ProxyPass / http://127.0.0.1:{node.port}/\n</VirtualHost>\n"
            for name in ("first.example", "second.example")
        )
        write_tree({"hostpanel.conf": everything_to_node}, tmp_path / "forgetful")
        apache = apache_factory(tmp_path / "forgetful", listen=[f"127.0.0.1:{port}"])
        apache.start()

        assert Visitor(port, "first.example").request("GET", "/", accept="text/html").status == 200
        first = Visitor(port, "first.example").request("GET", "/++api++/")
        assert Visitor(port, "second.example").request("GET", "/", accept="text/html").status == 200
        second = Visitor(port, "second.example").request("GET", "/++api++/")
    finally:
        node.stop()

    assert first.status == second.status == 200  # it seems to work...
    assert first.json()["@id"] == "http://first.example"
    assert second.json()["@id"] == "http://first.example"  # ...but the second site gets the first one's URLs


def test_a_logged_in_page_renders_only_with_a_token_from_the_zope_that_node_calls(plone_zopes, volto_node):
    """Server-side rendering calls ONE Zope (RAZZLE_INTERNAL_API_PATH, instance a) with the visitor's token:
    with separate ZODBs a token issued by instance b (where the sticky API path may have sent the login) is
    refused there, and the visitor's pages fail. Only Zopes sharing one database (one keyring) serve such pools."""
    statuses = []
    for zope in plone_zopes:
        login = Visitor(zope.port, "127.0.0.1").request(
            "POST", f"{VOLTO_PATH}/++api++/@login", body={"login": ADMIN[0], "password": ADMIN[1]}
        )
        token = login.json()["token"]
        page = http_get(volto_node.port, "/", host=DOMAIN, cookie=f"auth_token={token}", timeout=60)
        statuses.append(page.status)
    assert volto_node.internal_api == plone_zopes[0].url(VOLTO_PATH)
    assert statuses == [200, 401]
