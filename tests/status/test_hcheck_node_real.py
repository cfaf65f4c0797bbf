"""A dead Node.js frontend server is taken out by mod_proxy_hcheck on its /ok (a real Apache 2.4 with the
module, the panel's rendered tree, Node.js stand-ins from devrig.node): the balancer-manager shows its health
check failing within hcinterval x hcfails with no visitor's request involved, and every page then goes to the
live member (bench/volto.py measures the visitors' failures while it is not yet detected); it comes back after
hcpasses once it answers /ok again."""

from __future__ import annotations

import time

import pytest

from balancers import services
from devrig import apache
from devrig.fleet import add_volto_site, make_frontend_pool
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from status import manager as status_client
from status import parse as status_parse
from tests.factories import ACTOR
from tests.status.test_hcheck_real import HCHECK_FACTS, SLACK, _hcheck_installed

pytestmark = pytest.mark.real

INTERVAL, FAILS, PASSES = 1, 2, 1


def test_a_dead_node_member_leaves_rotation_by_its_ok_check_and_no_visitor_fails(
    db, tmp_path, apache_factory, backend_factory, node_factory
):
    _hcheck_installed()
    zope = backend_factory("zope1")
    bronze = services.balancer_create(actor=ACTOR, name="bronze")
    server = services.zope_server_create(actor=ACTOR, name="zope1", host="127.0.0.1", port=zope.port)
    services.member_create(actor=ACTOR, balancer=bronze, zope_server=server)
    nodes = {name: node_factory(name) for name in ("volto1", "volto2")}
    front = make_frontend_pool(
        nodes.values(), health_interval=INTERVAL, health_fails=FAILS, health_passes=PASSES, retry=60
    )
    add_volto_site("shop.example", bronze, front)
    port = free_port()
    config_dir = tmp_path / "conf"
    server_apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"], manager=True)
    frontend = services.frontend_create(
        actor=ACTOR,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{port}",
        balancer_manager_url=server_apache.manager_url,
        node_port_base=free_port_block(3),
    )
    frontend.apache_facts = HCHECK_FACTS
    frontend.save(update_fields=["apache_facts"])
    tree = render_tree(load_snapshot(), frontend)
    assert f"hcmethod=GET hcuri=/ok hcinterval={INTERVAL} hcpasses={PASSES} hcfails={FAILS}" in tree["balancers.conf"]
    apache.write_tree(tree, config_dir)
    server_apache.start()

    def page() -> str:
        answer = http_get(port, "/", host="shop.example", timeout=10)
        return answer.headers.get("X-Frontend", "") if answer.status == 200 else f"HTTP {answer.status}"

    def volto2_failing() -> bool:
        host = status_client.fetch_manager(status_client.ManagerEndpoint.of(frontend))
        pool = host.balancer("front")
        assert pool is not None
        worker = status_parse.find_worker(pool, urls=[], route="volto2")
        assert worker is not None
        return worker.flags.health_check_failed

    assert {page() for _ in range(8)} == {"volto1", "volto2"}
    deadline = time.monotonic() + INTERVAL + SLACK
    while not any(r.path == "/ok" for r in nodes["volto2"].requests):
        assert time.monotonic() < deadline, server_apache.error_log()[-2000:]
        time.sleep(0.1)

    nodes["volto2"].stop()
    stopped = time.monotonic()
    while not volto2_failing():  # no visitor meanwhile: the health check alone takes it out
        assert time.monotonic() - stopped < INTERVAL * FAILS + SLACK, server_apache.error_log()[-2000:]
        time.sleep(0.1)
    # out of rotation before any visitor met it: none is sent there, so none has to fail over
    assert [page() for _ in range(12)] == ["volto1"] * 12

    nodes["volto2"].start()
    deadline = time.monotonic() + INTERVAL * PASSES + SLACK
    while volto2_failing():
        assert time.monotonic() < deadline, server_apache.error_log()[-2000:]
        time.sleep(0.1)
