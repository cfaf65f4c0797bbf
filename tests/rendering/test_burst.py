"""A short bounded burst (wrk, 16 connections, 2 s) through each render mode on a front-end with the small
worker limits a busy one runs into (event MPM, 2 processes x 16 threads): no request may get an error answer
and the proxy may never read a dead pooled connection. Under that pressure the event MPM closes the idle
keep-alive connections of a process whose workers are all busy, and a balancer reusing a pooled connection
to a node vhost of the same Apache read a closed socket (AH01102 and 502s): the pooled form fails
this test, disablereuse=On passes it. Not asserted: wrk's socket read errors, the same MPM closing the
CLIENTS' keep-alive connections (direct to a plain Apache too, whatever the config; a browser resends on a
new connection). Not a timing test: bench/dataplane.py measures throughput."""

from __future__ import annotations

import re
import subprocess

import pytest

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.realparts import require_binary

pytestmark = pytest.mark.real

SMALL_WORKERS = (2, 16)  # ServerLimit 2, ThreadsPerChild 16, MaxRequestWorkers 32


def burst(wrk: str, port: int, *, cookie: str | None) -> dict[str, int]:
    """wrk -t1 -c16 -d2s against linux.co.uk: {"requests", "non2xx", "socket_errors"}."""
    cmd = [wrk, "-t1", "-c16", "-d2s", "-H", "Host: linux.co.uk"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}/front-page"], capture_output=True, text=True, timeout=60)
    text = out.stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    requests = re.search(r"(\d+) requests in", text)
    assert requests, text + out.stderr
    return {
        "requests": int(requests.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_burst_under_small_worker_limits_gets_no_error_answer_with_or_without_the_sticky_cookie(
    db, tmp_path, actor, backend_factory, apache_factory, mode
):
    wrk = require_binary("wrk")
    bronze = balancer_services.balancer_create(actor=actor, name="bronze", render_mode=mode)
    for name in ("zope1", "zope2"):
        backend = backend_factory(name)
        server = balancer_services.zope_server_create(actor=actor, name=name, host="127.0.0.1", port=backend.port)
        balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
    site_services.site_create(actor=actor, domain="linux.co.uk", balancer=bronze, plone_path="/plone/linux")
    port = free_port()
    config_dir = tmp_path / "hostpanel"
    frontend = balancer_services.frontend_create(
        actor=actor,
        name="burst",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{port}",
        node_address="127.0.0.1",
        node_port_base=free_port_block(2),
    )
    write_tree(render_tree(load_snapshot(), frontend), config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"], workers=SMALL_WORKERS)
    apache.start()
    assert http_get(port, "/", host="linux.co.uk").status == 200, apache.error_log()[-2000:]

    for cookie in (None, "BALANCEID=balancer.zope1"):
        seen = burst(wrk, port, cookie=cookie)
        assert seen["requests"] > 100, seen  # a real burst, not a stalled one
        assert seen["non2xx"] == 0, (cookie, seen, apache.error_log()[-3000:])
    assert "AH01102" not in apache.error_log(), apache.error_log()[-3000:]
