"""Health and manager URLs answer, but never lead the panel to another host: a 3xx to another host,
scheme or port counts as an answer and is not followed (hostpanel.http.url_answers); the
balancer-manager client (http.client) follows no redirect at all."""

from __future__ import annotations

from hostpanel.http import url_answers, url_origin
from status.manager import ManagerEndpoint, fetch_manager


def test_a_redirect_to_another_host_is_an_answer_and_is_not_followed(canned_server):
    elsewhere_url, elsewhere = canned_server(body=b"secret elsewhere")
    url, server = canned_server(status=302, headers={"Location": elsewhere_url})
    assert url_answers(url) == (True, "HTTP 302")
    assert len(server.requests) == 1
    assert elsewhere.requests == []  # another port is another origin: never asked


def test_a_redirect_within_the_same_host_is_followed(canned_server):
    url, server = canned_server(status=301, headers={"Location": "/moved"})
    # the server answers every request with 301: followed within the origin until urllib's own limit
    ok, detail = url_answers(url)
    assert ok and detail == "HTTP 301"
    assert len(server.requests) > 1 and server.requests[1]["path"] == "/moved"


def test_the_manager_client_follows_no_redirect(canned_server):
    elsewhere_url, elsewhere = canned_server(body=b"<x/>")
    url, _ = canned_server(status=302, headers={"Location": elsewhere_url})
    live = fetch_manager(ManagerEndpoint(1, "fe1", url, "admin", "s3cret"))
    assert live.state == "down" and "302" in live.reason
    assert elsewhere.requests == []


def test_an_origin_is_scheme_host_and_explicit_port():
    assert url_origin("http://Example.com/x") == url_origin("http://example.com:80/y") == ("http", "example.com", 80)
    assert url_origin("https://example.com/") != url_origin("http://example.com/")
    assert url_origin("http://example.com:8080/") != url_origin("http://example.com/")
