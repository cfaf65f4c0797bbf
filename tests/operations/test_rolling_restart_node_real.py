"""A rolling restart of a Node.js frontend pool on real parts: two standalone Apaches in front of the Zope
pool bronze and the frontend pool `volto` (two Node stand-ins), restart commands over real SSH. The same
runner as for Zope servers: drain, restart, health on the server's own health path (/ok), warm `/` with the
Volto site's Host, undrain."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from balancers.models import BalancerMember, FrontEnd
from balancers.selectors.overview import status_overview
from balancers.services import member_set_flags, status_refresh
from devrig.fleet import build_fleet
from devrig.net import http_get
from operations.choices import RestartStatus, RestartStepName, StepOutcome
from operations.runner import restart_execute
from operations.selectors import restart_refusals
from operations.services import rolling_restart_start
from status.manager import ManagerEndpoint, fetch_manager
from status.parse import find_worker
from tests.factories import ACTOR

pytestmark = pytest.mark.real


@pytest.fixture
def volto_fleet(transactional_db, tmp_path, settings, apache_factory, backend_factory, node_factory):
    """fe1, fe2 in front of bronze (zope1, zope2) and the frontend pool volto (node1, node2); the Volto site
    volto.example and the Classic UI site linux.co.uk; deployed once."""
    settings.HOSTPANEL_RESTART_SETTLE_SECONDS = 0.3
    settings.HOSTPANEL_RESTART_IDLE_TIMEOUT = 8
    settings.HOSTPANEL_RESTART_HEALTH_TIMEOUT = 10
    made = build_fleet(
        tmp_path,
        apache_factory,
        backend_factory,
        sites=["linux.co.uk"],
        volto_sites=["volto.example"],
        node_factory=node_factory,
        member_retry=1,
    )
    made.deploy()
    yield made
    made.stop()


class Visitor(threading.Thread):
    """A browser asking for volto.example's pages through one front-end every 20 ms: (time, status, Node server)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.seen, self.halt = port, [], threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            at = time.time()
            try:
                answer = http_get(self.port, "/news", host="volto.example", timeout=10)
                status, server = answer.status, answer.headers.get("X-Frontend", "")
            except (OSError, http.client.HTTPException) as exc:  # a cut answer is a failed request too
                status, server = 0, f"{type(exc).__name__}: {exc}"
            self.seen.append((at, status, server))
            time.sleep(0.02)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def live_flags(frontend: str, route: str):
    host = fetch_manager(ManagerEndpoint.of(FrontEnd.objects.get(name=frontend)))
    member = BalancerMember.objects.select_related("zope_server").get(zope_server__name=route)
    return find_worker(host.balancer("volto"), urls=[member.zope_server.url], route=route).flags


def test_a_node_pool_without_restart_commands_is_refused_in_its_own_words(volto_fleet):
    reasons = restart_refusals(volto_fleet.frontend_balancer)
    assert any("No restart command for the Node.js frontend server(s) node1, node2" in r for r in reasons)


def test_a_rolling_restart_of_a_node_pool_checks_ok_and_warms_the_volto_sites_front_page(volto_fleet, zope_host):
    volto_fleet.enable_restarts(zope_host)
    for name in ("node1", "node2", "zope1", "zope2"):
        volto_fleet.backends[name].clear()
    visitors = [Visitor(volto_fleet.host(name).http_port) for name in ("fe1", "fe2")]
    for visitor in visitors:
        visitor.start()
    time.sleep(0.3)
    try:
        job = rolling_restart_start(balancer=volto_fleet.frontend_balancer, actor=ACTOR, enqueue=False)
        assert job.routes == ["node1", "node2"]
        job = restart_execute(job.pk)
        time.sleep(0.3)
    finally:
        for visitor in visitors:
            visitor.stop()

    assert job.status == RestartStatus.SUCCEEDED, (job.message, [(s.route, s.step, s.detail) for s in job.steps.all()])
    assert volto_fleet.restarts == {"zope1": 0, "zope2": 0, "node1": 1, "node2": 1}  # the Zope pool untouched
    for route in ("node1", "node2"):
        steps = {s.step: s for s in job.steps.filter(route=route)}
        assert list(steps) == RestartStepName.values
        assert {s.outcome for s in steps.values()} == {StepOutcome.OK}, [(s.step, s.detail) for s in steps.values()]
        assert f"{volto_fleet.backends[route].url}/ok answered 200" in steps["wait_healthy"].detail
        assert "volto.example /: HTTP 200" in steps["warm"].detail
        seen = [(r.path, r.host) for r in volto_fleet.backends[route].requests]
        assert ("/ok", f"127.0.0.1:{volto_fleet.backends[route].port}") in seen
        assert ("/", "volto.example") in seen  # warmed with the site's Host, directly on the restarted server
        assert not any(r.path == "/@@ok" for r in volto_fleet.backends[route].requests)
    # every page a visitor asked for was served by the pool, while one member at a time was out of it
    seen = [s for visitor in visitors for s in visitor.seen]
    failed = [s for s in seen if s[1] != 200]
    assert seen and not failed, failed[:5]
    assert {s[2] for s in seen} == {"node1", "node2"}
    for route, other in (("node1", "node2"), ("node2", "node1")):
        steps = {s.step: s for s in job.steps.filter(route=route)}
        out = [
            s
            for s in seen
            if steps["restart"].started_at.timestamp() <= s[0] <= steps["undrain"].started_at.timestamp()
        ]
        assert out and {s[2] for s in out} == {other}
    # drained and undrained live in both front-ends' balancer-manager, nobody left drained
    drains = [s for s in job.steps.filter(step="drain")]
    assert all("fe1" in s.detail and "fe2" in s.detail for s in drains), [s.detail for s in drains]
    assert not BalancerMember.objects.filter(drain=True).exists()
    for frontend in ("fe1", "fe2"):
        for route in ("node1", "node2"):
            flags = live_flags(frontend, route)
            assert not flags.drain and not flags.disabled


def test_node_members_show_their_live_state_and_take_the_hot_standby_toggle_like_zope_members(volto_fleet):
    overview = status_overview(hosts=status_refresh())
    pool = next(b for b in overview["balancers"] if b["name"] == "volto")
    assert pool["kind"] == "node" and not pool["missing_on"] and not pool["unknown_live_members"]
    for member in pool["members"]:
        assert member["in_sync"], member["drift"]
        assert {fe: w["state"] for fe, w in member["live"].items()} == {"fe1": "ok", "fe2": "ok"}

    node2 = BalancerMember.objects.get(balancer=volto_fleet.frontend_balancer, zope_server__name="node2")
    result = member_set_flags(node2, actor=ACTOR, hot_standby=True)
    assert result.all_applied, result.summary()

    overview = status_overview(hosts=status_refresh())
    pool = next(b for b in overview["balancers"] if b["name"] == "volto")
    standby = next(m for m in pool["members"] if m["route"] == "node2")
    assert standby["in_sync"] and {w["state"] for w in standby["live"].values()} == {"hot standby"}
    assert live_flags("fe1", "node2").hot_standby and live_flags("fe2", "node2").hot_standby
    # new visitors now all go to node1
    served = {
        http_get(volto_fleet.host("fe1").http_port, "/", host="volto.example").headers["X-Frontend"] for _ in range(6)
    }
    assert served == {"node1"}
