"""The one fake Zope/Plone backend (devrig.backends): what it records, answers and sets, and the
demo's group of them on fixed ports."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request

import pytest

from devrig.backends import Backend, parse_vhm
from devrig.demo import DemoBackends
from devrig.net import free_port, http_get


def test_a_backend_answers_with_its_name_path_and_host_and_restarts_on_its_port(backend_factory):
    backend = backend_factory("zope1")
    req = urllib.request.Request(backend.url + "/a/b?c=1", headers={"Host": "linux.co.uk"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = json.load(resp)
        assert resp.headers["X-Backend"] == "zope1"
    assert body == {"backend": "zope1", "method": "GET", "path": "/a/b?c=1", "host": "linux.co.uk"}
    assert [r.path for r in backend.requests] == ["/a/b?c=1"]
    port = backend.port
    backend.stop()
    backend.start()
    assert backend.port == port
    with urllib.request.urlopen(backend.url + "/again", timeout=5) as resp:
        assert json.load(resp)["path"] == "/again"


def test_a_backend_answers_with_the_status_it_is_told_and_after_its_delay(backend_factory):
    backend = backend_factory("zope1", status=503, delay=0.2)
    started = time.monotonic()
    answer = http_get(backend.port, "/")
    assert time.monotonic() - started >= 0.2
    assert answer.status == 503 and answer.headers["X-Backend"] == "zope1"
    backend.status, backend.delay = 200, 0
    assert http_get(backend.port, "/").status == 200


def test_a_plone_like_login_sets_the_ac_cookie_and_later_requests_show_the_user(backend_factory):
    backend = backend_factory("zope1")
    conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
    try:
        conn.request(
            "POST",
            "/plone/linux/login",
            body="__ac_name=olga&__ac_password=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 302 and response.getheader("Location") == "/plone/linux/"
    assert response.getheader("Set-Cookie").startswith("__ac=olga; Path=/")
    assert backend.requests[0].body == b"__ac_name=olga&__ac_password=x"
    assert json.loads(http_get(backend.port, "/", cookie="__ac=olga").body)["user"] == "olga"
    assert "user" not in json.loads(http_get(backend.port, "/").body)


def test_the_html_page_names_the_plone_site_of_the_virtual_host_path(backend_factory):
    backend = backend_factory("zope2", page="html")
    answer = http_get(backend.port, "/VirtualHostBase/http/linux.co.uk:80/plone/linux/VirtualHostRoot/news")
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Served by zope2" in answer.body
    assert "Plone site <code>/plone/linux</code> for <code>linux.co.uk:80</code>" in answer.body


def test_the_virtual_host_path_is_parsed_into_its_parts():
    vhm = parse_vhm("/VirtualHostBase/https/www.linux.co.uk:443/plone/linux/VirtualHostRoot/a/b?c=1")
    assert (vhm.scheme, vhm.host, vhm.site, vhm.rest) == ("https", "www.linux.co.uk:443", "/plone/linux", "/a/b")
    assert parse_vhm("/VirtualHostBase/http/x:80/plone/x/VirtualHostRoot").rest == "/"
    assert parse_vhm("/plone/linux") is None


def test_a_backend_refuses_an_unknown_page_kind():
    with pytest.raises(ValueError, match="page must be"):
        Backend("zope1", page="xml")


def test_the_demo_backends_skip_a_taken_port_and_serve_the_others():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy_port, free = taken.getsockname()[1], free_port()
    group = DemoBackends([("zope1", busy_port), ("zope2", free)]).start()
    try:
        assert [(name, port) for name, port, _ in group.skipped] == [("zope1", busy_port)]
        assert [b.name for b in group.started] == ["zope2"]
        with urllib.request.urlopen(f"http://127.0.0.1:{free}/", timeout=5) as resp:
            assert resp.headers["X-Backend"] == "zope2" and b"Served by zope2" in resp.read()
    finally:
        group.stop()
        taken.close()
