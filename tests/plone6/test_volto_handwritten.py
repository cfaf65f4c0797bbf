"""A real Volto 18 build and real Plone 6.2 behind a real Apache with the hand-written two-balancer config
(devrig.handwritten.volto_two_balancer_config, Volto's deployment docs' shape, over HTTPS): the baseline
HostPanel's rendered Volto config is compared with, and proof that the parts work as the docs say.

Pages come from Node (server-side rendered from Zope's REST API) with the public https URLs; `/++api++` goes to
Zope through the VirtualHostMonster; Node's own /++api++ proxy is off, so Node alone gives no API answer."""

from __future__ import annotations

import pytest

from devrig.apache import write_tree
from devrig.handwritten import volto_two_balancer_config
from devrig.net import Visitor, free_port, http_get
from devrig.plone import VOLTO_PATH
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
