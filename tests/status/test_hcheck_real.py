"""Active health checks against a REAL Apache 2.4 with mod_proxy_hcheck (devrig.apache loads it when the
module is installed): the panel's rendered tree in front of fake Zope backends (devrig.backends). A stopped
backend leaves rotation by its health checks alone (no visitor's request has to fail on it first) and comes
back after hcpasses; a front-end without the module gets no hc* parameter and a config that Apache accepts."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from balancers import services
from balancers.models import Balancer, FrontEnd, ZopeServer
from balancers.selectors.overview import status_overview
from devrig import apache
from devrig.apache import StandaloneApache, module_dir
from devrig.backends import Backend
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from status import manager as status_client
from status import parse as status_parse
from status.poller import poll_once
from tests.factories import set_render_mode
from tests.realparts import missing

pytestmark = pytest.mark.real

INTERVAL, FAILS, PASSES = 1, 2, 1  # seconds between checks, failures to leave, passes to come back
SLACK = 4.0  # the watchdog's own tick, a busy CI machine
HCHECK_FACTS = {"checked_at": "2026-12-07T12:00:00+00:00", "modules": ["proxy_hcheck", "watchdog"]}


@dataclass
class Rig:
    apache: StandaloneApache
    frontend: FrontEnd
    backends: dict[str, Backend]
    site_port: int

    def served_by(self) -> str:
        """Which backend served one new client (no cookie) of linux.co.uk, or 'HTTP <status>'."""
        answer = http_get(self.site_port, host="linux.co.uk", timeout=10)
        return f"HTTP {answer.status}" if answer.status >= 400 else answer.headers.get("X-Backend", "")

    def worker(self, route: str) -> status_parse.MemberStatus:
        host = status_client.fetch_manager(status_client.ManagerEndpoint.of(self.frontend))
        assert host.ok, host.reason
        bronze = host.balancer("bronze")
        assert bronze is not None
        worker = status_parse.find_worker(bronze, urls=[], route=route)
        assert worker is not None, [m.route for m in bronze.members]
        return worker

    def wait_for(self, route: str, failing: bool, within: float) -> float:
        """Seconds until the balancer-manager shows route's health check failing (or passing again)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if self.worker(route).flags.health_check_failed == failing:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(
            f"{route}: health check {'failing' if failing else 'passing'} not shown within {within} s: "
            f"{self.worker(route).status!r}\n{self.apache.error_log()[-2000:]}"
        )


def _write(config_dir: Path, tree: dict[str, str]) -> None:
    if config_dir.exists():
        shutil.rmtree(config_dir)
    apache.write_tree(tree, config_dir)


def _hcheck_installed() -> None:
    try:
        installed = (Path(module_dir()) / "mod_proxy_hcheck.so").exists()
    except FileNotFoundError:
        installed = False
    if not installed:
        missing("mod_proxy_hcheck.so is not installed (Debian: apache2, 2.4.21 or newer)")


@pytest.fixture(params=["single-pass", "node-vhosts"])
def rig(request, demo, actor, tmp_path, apache_factory, backends):
    _hcheck_installed()
    set_render_mode(request.param, actor)
    for server in ZopeServer.objects.all():
        services.zope_server_update(
            server,
            actor=actor,
            port=backends[server.name].port,
            health_path="/health",
            health_interval=INTERVAL,
            health_fails=FAILS,
            health_passes=PASSES,
        )
    site_port = free_port()
    config_dir = tmp_path / "fe1-conf"
    listen = f"127.0.0.1:{site_port}"
    server = apache_factory(config_dir, listen=[listen], manager=True)
    frontend = services.frontend_create(
        actor=actor,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=listen,
        balancer_manager_url=server.manager_url,
        node_port_base=free_port_block(ZopeServer.objects.count()),
    )
    frontend.apache_facts = HCHECK_FACTS  # what the connection test reads from a front-end that loads it
    frontend.save(update_fields=["apache_facts"])
    tree = render_tree(load_snapshot(), frontend)
    assert "hcmethod=GET hcuri=/health hcinterval=1 hcpasses=1 hcfails=2" in tree["balancers.conf"]
    _write(config_dir, tree)
    server.start()
    return Rig(server, frontend, backends, site_port)


def test_a_stopped_zope_leaves_rotation_by_its_health_check_and_comes_back(rig):
    assert {rig.served_by() for _ in range(8)} == {"zope1", "zope2"}
    deadline = time.monotonic() + INTERVAL + SLACK
    while not (checks := [r for r in rig.backends["zope2"].requests if r.path == "/health"]):
        assert time.monotonic() < deadline, ("no health check reached zope2", rig.apache.error_log()[-2000:])
        time.sleep(0.1)
    assert checks[0].method == "GET"  # hcuri after the worker's URL (through the node vhost too)
    assert rig.worker("zope2").flags.state == "ok"

    rig.backends["zope2"].stop()
    took = rig.wait_for("zope2", failing=True, within=INTERVAL * FAILS + SLACK)
    zope2 = rig.worker("zope2")
    assert zope2.flags.state == "health check failing" and not zope2.flags.ok
    elected = zope2.elected
    # out of rotation: no new client is sent to it, so none fails and none has to fail over
    served = [rig.served_by() for _ in range(12)]
    assert served == ["zope1"] * 12, (served, rig.worker("zope2").status, rig.apache.error_log()[-2000:])
    assert rig.worker("zope2").elected == elected
    assert took <= INTERVAL * FAILS + SLACK

    rig.backends["zope2"].start()
    rig.wait_for("zope2", failing=False, within=INTERVAL * PASSES + SLACK)
    zope2 = rig.worker("zope2")
    assert zope2.flags.state == "ok", (zope2.status, rig.apache.error_log()[-2000:])
    served = [rig.served_by() for _ in range(8)]
    assert "zope2" in served, (served, rig.worker("zope2").status, rig.apache.error_log()[-2000:])


def test_the_dashboard_and_the_balancer_page_show_health_check_failing_apart_from_error(rig, viewer_client):
    rig.backends["zope2"].stop()
    rig.wait_for("zope2", failing=True, within=INTERVAL * FAILS + SLACK)
    poll_once()  # the poller's sample: what the dashboard and the balancer page read
    bronze = next(b for b in status_overview()["balancers"] if b["name"] == "bronze")
    live = {m["route"]: m["live"]["fe1"] for m in bronze["members"]}
    assert live["zope2"]["state"] == "health check failing" and live["zope2"]["health_check_failed"]
    assert live["zope1"]["state"] == "ok"
    grid = viewer_client.get("/").content.decode()
    assert 'data-state="health check failing"' in grid and "its health check fails" in grid
    page = viewer_client.get(bronze_url(rig)).content.decode()
    assert 'data-frontend="fe1" data-state="health check failing"' in page
    assert "GET <code>/health</code> every 1 s" in page


def bronze_url(rig: Rig) -> str:
    return Balancer.objects.get(name="bronze").get_absolute_url()


def test_a_frontend_without_mod_proxy_hcheck_gets_no_hc_parameters_and_a_config_apache_accepts(
    demo, actor, tmp_path, apache_factory
):
    frontend = services.frontend_create(
        actor=actor, name="plain", address="127.0.0.1", transport="local", config_dir=str(tmp_path / "conf")
    )
    frontend.apache_facts = {"checked_at": "2026-12-07T12:00:00+00:00", "modules": ["proxy", "proxy_balancer"]}
    frontend.save(update_fields=["apache_facts"])
    plain = render_tree(load_snapshot(), frontend)
    assert not any(" hc" in line for text in plain.values() for line in text.splitlines() if "BalancerMember" in line)
    _write(tmp_path / "conf", plain)
    server = apache_factory(tmp_path / "conf", listen=[f"127.0.0.1:{free_port()}"], without_modules=("proxy_hcheck",))
    assert "proxy_hcheck" not in server.conf.read_text()
    result = server.configtest()
    assert result.ok, result.output
    # the same front-end once it claims the module: Apache without it refuses the hc* parameters
    frontend.apache_facts = HCHECK_FACTS
    frontend.save(update_fields=["apache_facts"])
    _write(tmp_path / "conf", render_tree(load_snapshot(), frontend))
    refused = server.configtest()
    assert not refused.ok and "BalancerMember unknown Worker parameter" in refused.output, refused.output
    with_module = apache_factory(tmp_path / "conf", listen=[f"127.0.0.1:{free_port()}"])
    accepted = with_module.configtest()
    assert accepted.ok, accepted.output
