"""The hand-written two-balancer Volto config (devrig.handwritten.volto_two_balancer_config), the bench's
baseline, on a real Apache in front of recording stand-ins: /++api++ to the Zope balancer through the
VirtualHostMonster (sticky), everything else to the Node balancer with the Host kept. The real Plone and Volto
behind it: tests/plone6/test_volto_handwritten.py."""

from __future__ import annotations

import json

import pytest

from devrig.apache import write_tree
from devrig.handwritten import volto_two_balancer_config
from devrig.net import free_port, http_get

pytestmark = pytest.mark.real


@pytest.fixture
def served(tmp_path, backend_factory, apache_factory):
    zopes = [backend_factory("zope1"), backend_factory("zope2")]
    node = backend_factory("node1")
    port = free_port()
    text = volto_two_balancer_config(
        listen=f"127.0.0.1:{port}",
        zope=[f"127.0.0.1:{zope.port}" for zope in zopes],
        node=[f"127.0.0.1:{node.port}"],
        sites={"volto.example": "/Plone", "other.example": "/Other"},
    )
    write_tree({"hostpanel.conf": text}, tmp_path / "conf")
    apache = apache_factory(tmp_path / "conf", listen=[f"127.0.0.1:{port}"])
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()
    return port, zopes, node


def test_the_api_goes_to_zope_through_the_virtual_host_monster(served):
    port, zopes, node = served
    answer = http_get(port, "/++api++/news/@search", host="volto.example")
    assert answer.status == 200
    seen = json.loads(answer.body)
    assert seen["backend"] in {"zope1", "zope2"}
    assert seen["path"] == "/VirtualHostBase/http/volto.example:80/Plone/++api++/VirtualHostRoot/news/@search"
    assert node.requests == []


def test_pages_go_to_node_with_the_host_and_the_scheme(served):
    port, zopes, node = served
    answer = http_get(port, "/news", host="volto.example")
    assert answer.headers["X-Backend"] == "node1"
    request = node.requests[-1]
    assert (request.path, request.host) == ("/news", "volto.example")
    assert request.headers["X-Forwarded-Proto"] == "http"
    assert all(zope.requests == [] for zope in zopes)


def test_the_api_path_is_sticky_to_the_zope_that_answered_first(served):
    port, zopes, node = served
    first = http_get(port, "/++api++/", host="volto.example")
    cookie = next(value for key, value in first.headers.items() if key.lower() == "set-cookie")
    route = cookie.split(";", 1)[0]
    assert route.startswith("ROUTEID=.z")
    backends = {
        json.loads(http_get(port, "/++api++/", host="volto.example", cookie=route).body)["backend"] for _ in range(10)
    }
    assert backends == {json.loads(first.body)["backend"]}


def test_each_site_has_its_own_vhost_and_unknown_names_get_404(served):
    port, zopes, node = served
    seen = json.loads(http_get(port, "/++api++/", host="other.example").body)
    assert seen["path"] == "/VirtualHostBase/http/other.example:80/Other/++api++/VirtualHostRoot/"
    assert http_get(port, "/", host="unknown.example").status == 404
