"""The Node.js frontend stand-in (devrig.node): Volto's health check, pages naming what they got, its own
/++api++ proxy off (404) unless asked, and then the misroute it reproduces (the first Host wins)."""

from __future__ import annotations

import json

from devrig.net import http_get


def test_it_answers_ok_and_pages_naming_itself_and_the_forwarded_headers(node_factory):
    node = node_factory("volto1")
    ok = http_get(node.port, "/ok")
    assert (ok.status, ok.body, ok.headers["X-Frontend"]) == (200, "ok", "volto1")
    page = json.loads(http_get(node.port, "/news?x=1", host="shop.example").body)
    assert (page["frontend"], page["path"], page["host"]) == ("volto1", "/news?x=1", "shop.example")
    assert http_get(node.port, "/++api++/").status == 404  # its proxy is off: a misrouted API call fails loudly
    node.status = 503
    assert http_get(node.port, "/ok").status == 503 and http_get(node.port, "/").status == 503


def test_with_its_api_proxy_on_a_second_sites_api_answers_carry_the_first_sites_host(node_factory, backend_factory):
    zope = backend_factory("zope1")
    node = node_factory("volto1", api_proxy=f"{zope.url}/Plone")
    first = json.loads(http_get(node.port, "/++api++/a", host="one.example").body)
    second = json.loads(http_get(node.port, "/++api++/b", host="two.example").body)
    assert first["path"] == "/VirtualHostBase/http/one.example/Plone/++api++/VirtualHostRoot/a"
    assert second["path"] == "/VirtualHostBase/http/one.example/Plone/++api++/VirtualHostRoot/b"  # not two.example
