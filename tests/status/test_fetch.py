"""Fetching over real sockets: every way a front-end can fail is reported with a reason, never raised,
and many front-ends cost the slowest one's timeout, not the sum."""

from __future__ import annotations

import socket
import threading
import time

from status import manager as status_client
from status.manager import ManagerEndpoint, fetch_all, fetch_manager
from status.parse import HostState
from tests.samples import MANAGER_HTML as HTML
from tests.samples import MANAGER_XML as XML


def endpoint(url: str, name: str = "fe", **kw) -> ManagerEndpoint:
    return ManagerEndpoint(frontend_id=None, frontend_name=name, url=url, **kw)


def test_it_sends_the_referer_and_asks_for_xml(canned_server):
    url, server = canned_server(body=XML)
    host = fetch_manager(endpoint(url))
    assert host.state == HostState.OK, host.reason
    assert [b.name for b in host.balancers] == ["bronze", "silver"]
    request = server.requests[0]
    assert request["path"] == "/balancer-manager?xml=1"
    assert request["headers"]["Referer"] == url


def test_it_sends_basic_auth_when_the_front_end_has_credentials(canned_server):
    url, server = canned_server(body=XML)
    fetch_manager(endpoint(url, username="admin", password="s3cret"))
    assert server.requests[0]["headers"]["Authorization"] == "Basic YWRtaW46czNjcmV0"


def test_a_refused_connection_is_reported_as_refused(closed_port):
    host = fetch_manager(endpoint(f"http://127.0.0.1:{closed_port}/balancer-manager"))
    assert host.state == HostState.REFUSED and "refused" in host.reason


def test_a_host_that_never_answers_is_a_timeout_after_the_timeout(silent_port):
    started = time.monotonic()
    host = fetch_manager(endpoint(f"http://127.0.0.1:{silent_port}/balancer-manager"), timeout=0.5)
    assert host.state == HostState.TIMEOUT and "0.5 s" in host.reason
    assert 0.4 < time.monotonic() - started < 1.5


def test_the_html_page_is_reported_as_a_missing_referer(canned_server):
    url, _ = canned_server(body=HTML, content_type="text/html")
    host = fetch_manager(endpoint(url))
    assert host.state == HostState.HTML and "Referer" in host.reason


def test_junk_and_http_errors_are_reported_with_a_reason(canned_server):
    junk_url, _ = canned_server(body=b"hello, I am not XML")
    assert fetch_manager(endpoint(junk_url)).state == HostState.JUNK
    denied_url, _ = canned_server(status=401, body=b"no")
    host = fetch_manager(endpoint(denied_url))
    assert host.state == HostState.DOWN and "401" in host.reason and "password" in host.reason


def test_an_oversized_answer_is_cut_off(canned_server, monkeypatch):
    monkeypatch.setattr("status.manager.MAX_RESPONSE_BYTES", 1000)
    url, _ = canned_server(body=XML)
    host = fetch_manager(endpoint(url))
    assert host.state == HostState.JUNK and "larger than 1000" in host.reason


def test_a_front_end_without_manager_url_is_unconfigured():
    assert fetch_manager(endpoint("")).state == HostState.UNCONFIGURED


def test_the_nonce_falls_back_to_the_html_page_when_the_xml_lacks_it(canned_server):
    no_nonce = XML.replace(b"<httpd:nonce>", b"<httpd:x>").replace(b"</httpd:nonce>", b"</httpd:x>")
    url, server = canned_server(body=no_nonce)
    # the same canned server answers the HTML request with the XML: no links, so no nonce
    assert fetch_manager(endpoint(url)).balancers[0].nonce == ""
    html_url, _ = canned_server(body=HTML, content_type="text/html")
    # a fetch of the XML from one server and of the HTML from another is what an old build does in one
    calls = []
    real = status_client._request

    def two_servers(ep, method, **kw):
        calls.append(kw.get("query", ""))
        return real(ep if kw.get("query") else endpoint(html_url), method, **kw)

    status_client._request = two_servers
    try:
        host = fetch_manager(endpoint(url))
    finally:
        status_client._request = real
    assert calls == ["xml=1", ""]
    assert {b.name: b.nonce for b in host.balancers}["silver"] == "cb130812-e82e-d42a-677f-31f8497aa043"


def test_four_front_ends_cost_one_timeout_not_four(canned_server, silent_port, closed_port):
    ok_url, _ = canned_server(body=XML)
    endpoints = [
        endpoint(ok_url, "a"),
        endpoint(f"http://127.0.0.1:{silent_port}/balancer-manager", "b"),
        endpoint(f"http://127.0.0.1:{silent_port}/balancer-manager", "c"),
        endpoint(f"http://127.0.0.1:{closed_port}/balancer-manager", "d"),
    ]
    started = time.monotonic()
    hosts = fetch_all(endpoints, timeout=0.6)
    elapsed = time.monotonic() - started
    assert [h.state for h in hosts] == [HostState.OK, HostState.TIMEOUT, HostState.TIMEOUT, HostState.REFUSED]
    assert elapsed < 1.2, elapsed  # one timeout (0.6 s) plus overhead, not 1.2 s for two silent hosts


def test_a_host_that_drips_its_answer_is_cut_at_one_timeout_in_total():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n")
            for byte in XML[:200]:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        host = fetch_manager(endpoint(f"http://127.0.0.1:{server.getsockname()[1]}/balancer-manager"), timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(3)
        server.close()
    assert host.state == HostState.TIMEOUT
    assert elapsed < 1.5, elapsed  # every byte came within the socket timeout, but the total is bounded
