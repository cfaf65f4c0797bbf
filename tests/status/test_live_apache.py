"""Against a REAL balancer-manager: a standalone Apache 2.4 (devrig.apache) on 127.0.0.1 serving
the panel's rendered config (rendering.render) plus a balancer-manager vhost, in front of fake Zope
backends (devrig.backends)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from balancers import services
from balancers.choices import DeploymentStatus
from balancers.models import Balancer, BalancerMember, Deployment, FrontEnd, ZopeServer
from balancers.selectors import overview as status_overview_mod
from devrig import apache
from devrig.apache import StandaloneApache
from devrig.backends import Backend
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from status import manager as status_client
from status import parse as status_parse
from status.poller import poll_once
from tests.factories import add_manager_frontend, manager_url

pytestmark = pytest.mark.real


@dataclass
class Rig:
    apache: StandaloneApache
    frontend: FrontEnd
    backends: dict[str, Backend]
    config_dir: Path
    site_port: int

    def redeploy(self) -> None:
        """What a deployment does on this front-end: the re-rendered tree, then a graceful reload."""
        write_tree(self.config_dir, render_tree(load_snapshot(), FrontEnd.objects.get(pk=self.frontend.pk)))
        self.apache.graceful()

    def get(self, cookie: str | None = None) -> tuple[str, str]:
        """(backend that served, Set-Cookie) of one client request to the demo site linux.co.uk."""
        answer = http_get(self.site_port, host="linux.co.uk", cookie=cookie, timeout=10)
        if answer.status >= 400:
            return f"HTTP {answer.status}", ""
        return answer.headers.get("X-Backend", ""), answer.headers.get("Set-Cookie", "")

    def new_clients(self, count: int = 12) -> set[str]:
        return {self.get()[0] for _ in range(count)}

    def sticky_clients(self, route: str, count: int = 6) -> set[str]:
        return {self.get(cookie=f"BALANCEID=balancer.{route}")[0] for _ in range(count)}

    def live_member(self, route: str) -> status_parse.MemberStatus:
        host = status_client.fetch_manager(status_client.ManagerEndpoint.of(self.frontend))
        assert host.ok, host.reason
        url = ZopeServer.objects.get(name=route).url
        worker = host.balancer("bronze").member(url)
        assert worker is not None, [m.url for m in host.balancer("bronze").members]
        return worker


def write_tree(config_dir: Path, tree: dict[str, str]) -> None:
    """Replace config_dir's files by the tree (what a deploy's swap leaves behind)."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    apache.write_tree(tree, config_dir)


def member(route: str) -> BalancerMember:
    return BalancerMember.objects.select_related("zope_server", "balancer").get(
        balancer__name="bronze", zope_server__name=route
    )


@pytest.fixture
def rig(demo, actor, tmp_path, apache_factory, backends):
    for server in ZopeServer.objects.all():
        services.zope_server_update(server, actor=actor, port=backends[server.name].port)
    site_port = free_port()
    config_dir = tmp_path / "fe1-conf"
    config_dir.mkdir()
    listen = f"127.0.0.1:{site_port}"
    apache = apache_factory(config_dir, listen=[listen], manager=True)
    frontend = services.frontend_create(
        actor=actor,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=listen,
        balancer_manager_url=apache.manager_url,
    )
    write_tree(config_dir, render_tree(load_snapshot(), frontend))
    apache.start()
    return Rig(apache, frontend, backends, config_dir, site_port)


def test_the_parser_reads_the_live_xml_including_a_member_in_error(rig):
    assert rig.new_clients() == {"zope1", "zope2"}
    rig.backends["zope2"].stop()
    served, _ = rig.get(cookie="BALANCEID=balancer.zope2")
    assert served == "zope1"  # failover to the other lbset-1 member
    host = status_client.fetch_manager(status_client.ManagerEndpoint.of(rig.frontend))
    assert host.ok, host.reason
    assert {b.name for b in host.balancers} == {"bronze", "silver"}
    bronze = host.balancer("bronze")
    assert bronze.sticky_cookie == "BALANCEID" and bronze.lbmethod == "byrequests" and bronze.nonce
    zope2 = rig.live_member("zope2")
    assert zope2.flags.error and zope2.flags.state == "error" and zope2.error_time
    assert rig.live_member("zope1").flags.ok and rig.live_member("zope1").elected > 0
    assert rig.live_member("backup").flags.hot_standby  # rendered status=+H, no route
    assert rig.live_member("backup").route == ""


def test_hot_standby_applies_live_and_survives_a_graceful_reload(rig, actor):
    assert rig.new_clients() == {"zope1", "zope2"}
    result = services.member_set_flags(member("zope2"), actor=actor, hot_standby=True)
    assert [(r.frontend_name, r.applied) for r in result.frontends] == [("fe1", True)], result.summary()
    assert "Stby" in result.frontends[0].live_status
    assert rig.live_member("zope2").flags.hot_standby
    assert rig.new_clients() == {"zope1"}  # new clients no longer reach zope2
    assert rig.sticky_clients("zope2") == {"zope2"}  # clients with its cookie stay (apache-facts §4)
    rig.redeploy()
    assert rig.live_member("zope2").flags.hot_standby  # because it is in the rendered config now
    assert "status=+H" in (rig.config_dir / "balancers.conf").read_text()
    assert rig.new_clients() == {"zope1"}
    services.member_set_flags(member("zope2"), actor=actor, hot_standby=False)
    assert not rig.live_member("zope2").flags.hot_standby
    assert rig.new_clients() == {"zope1", "zope2"}


def test_drain_keeps_sticky_clients_and_sends_new_ones_elsewhere_across_a_reload(rig, actor):
    result = services.member_set_flags(member("zope2"), actor=actor, drain=True)
    assert result.all_applied, result.summary()
    assert rig.live_member("zope2").flags.drain
    assert rig.new_clients() == {"zope1"}
    assert rig.sticky_clients("zope2") == {"zope2"}
    rig.redeploy()
    assert rig.live_member("zope2").flags.drain
    assert rig.new_clients() == {"zope1"}
    assert rig.sticky_clients("zope2") == {"zope2"}


def test_disable_moves_every_client_away_across_a_reload(rig, actor):
    result = services.member_set_flags(member("zope2"), actor=actor, disabled=True)
    assert result.all_applied, result.summary()
    assert rig.live_member("zope2").flags.disabled
    assert rig.new_clients() == {"zope1"}
    assert rig.sticky_clients("zope2") == {"zope1"}
    rig.redeploy()
    assert rig.live_member("zope2").flags.disabled
    assert rig.sticky_clients("zope2") == {"zope1"}


def test_loadfactor_is_applied_live(rig, actor):
    result = services.member_set_flags(member("zope1"), actor=actor, loadfactor=40)
    assert result.all_applied, result.summary()
    assert rig.live_member("zope1").loadfactor == 40.0


def test_an_unreachable_and_a_slow_front_end_are_reported_and_the_other_still_applies(
    rig, actor, settings, closed_port, silent_port
):
    settings.HOSTPANEL_STATUS_TIMEOUT = 1.0
    add_manager_frontend(actor, "fe2-down", manager_url(closed_port))
    add_manager_frontend(actor, "fe3-slow", manager_url(silent_port))
    started = time.monotonic()
    result = services.member_set_flags(member("zope2"), actor=actor, hot_standby=True)
    elapsed = time.monotonic() - started
    outcomes = {r.frontend_name: r for r in result.frontends}
    assert outcomes["fe1"].applied, outcomes["fe1"].reason
    assert not outcomes["fe2-down"].applied and "refused" in outcomes["fe2-down"].reason
    assert not outcomes["fe3-slow"].applied and "timeout" in outcomes["fe3-slow"].reason
    assert elapsed < 4, elapsed  # concurrent: one timeout, not the sum
    assert rig.new_clients() == {"zope1"}
    overview = status_overview_mod.status_overview(live=True)  # ask the front-ends now
    states = {f["name"]: f["state"] for f in overview["frontends"]}
    assert states == {"fe1": "ok", "fe2-down": "refused", "fe3-slow": "timeout"}


def test_a_wrong_nonce_is_detected_by_reading_back(rig):
    endpoint = status_client.ManagerEndpoint.of(rig.frontend)
    url = ZopeServer.objects.get(name="zope2").url
    # what Apache does with a forged request: HTTP 200 and nothing changed
    status_client._request(
        endpoint,
        "POST",
        body=f"b=bronze&w={url}&nonce=00000000-0000-0000-0000-000000000000&w_status_D=1".encode(),
        timeout=2,
    )
    assert not rig.live_member("zope2").flags.disabled
    change = status_client.MemberChange(disabled=True)
    assert change.mismatches(rig.live_member("zope2")) == ["disabled is off"]


def test_the_overview_flags_a_member_whose_live_state_differs_from_the_panel(rig, actor):
    services.member_set_flags(member("zope2"), actor=actor, hot_standby=True, apply_live=False)
    overview = status_overview_mod.status_overview(live=True)  # ask the front-ends now
    bronze = next(b for b in overview["balancers"] if b["name"] == "bronze")
    zope2 = next(m for m in bronze["members"] if m["route"] == "zope2")
    assert not zope2["in_sync"]
    assert zope2["drift"] == ["fe1: hot standby is on in the panel but off live"]
    assert zope2["live"]["fe1"]["state"] == "ok"
    zope1 = next(m for m in bronze["members"] if m["route"] == "zope1")
    assert zope1["in_sync"] and zope1["live"]["fe1"]["state"] == "ok"


def test_the_dashboard_shows_the_live_grid(rig, admin_client):
    rig.new_clients()
    poll_once()  # what the poller does every HOSTPANEL_STATUS_POLL_SECONDS
    response = admin_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-frontend="fe1" data-state="ok"' in html
    assert "balancer://bronze" in html and "in sync" in html


def test_a_toggle_is_followed_by_an_automatic_deploy_that_keeps_it(transactional_db, rig, actor, settings):
    """The whole path with automatic deploy on: saved, applied live, rendered (status=+H) and deployed
    through deploy (local transport: configtest + graceful of this Apache)."""

    conf = rig.apache.conf
    services.frontend_update(
        FrontEnd.objects.get(pk=rig.frontend.pk),
        actor=actor,
        configtest_command=f"{rig.apache.binary} -t -f {conf}",
        reload_command=f"{rig.apache.binary} -k graceful -f {conf}",
    )
    settings.HOSTPANEL_AUTO_DEPLOY = True
    generations = rig.apache.error_log().count("resuming normal operations")
    result = services.member_set_flags(member("zope2"), actor=actor, hot_standby=True)
    assert result.all_applied, result.summary()
    assert result.deployment is not None
    deployment = Deployment.objects.get(pk=result.deployment.pk)
    assert deployment.status == DeploymentStatus.SUCCEEDED, [(h.stage, h.error) for h in deployment.hosts.all()]
    assert "status=+H" in (rig.config_dir / "balancers.conf").read_text()  # config_dir is now the deployed release
    rig.apache.wait_until_answering()
    assert rig.apache.error_log().count("resuming normal operations") > generations  # a graceful happened
    assert rig.live_member("zope2").flags.hot_standby
    assert rig.new_clients() == {"zope1"}


def test_lbset_is_applied_live_and_the_result_carries_the_saved_member(rig, actor):
    result = services.member_set_flags(member("zope2"), actor=actor, lbset=3)
    assert result.member.lbset == 3 and [r.applied for r in result.frontends] == [True]
    assert rig.live_member("zope2").lbset == 3
    assert rig.new_clients() == {"zope1"}  # lbset 1 is tried first while zope1 is up


def test_toggles_find_node_vhost_members_too(rig, actor):
    services.frontend_update(
        FrontEnd.objects.get(pk=rig.frontend.pk),
        actor=actor,
        node_port_base=free_port_block(ZopeServer.objects.count()),
    )
    services.balancer_update(Balancer.objects.get(name="bronze"), actor=actor, render_mode="node-vhosts")
    rig.redeploy()
    assert rig.new_clients() == {"zope1", "zope2"}  # through the node vhosts
    for route, flag in (("zope2", "drain"), ("backup", "disabled")):  # backup: a node member without route
        result = services.member_set_flags(member(route), actor=actor, **{flag: True})
        assert result.all_applied, result.summary()
        assert result.frontends[0].worker_url.startswith("http://127.0.0.1:")
        assert result.frontends[0].worker_url != ZopeServer.objects.get(name=route).url
    assert rig.new_clients() == {"zope1"}
    overview = status_overview_mod.status_overview(live=True)  # ask the front-ends now
    bronze = next(b for b in overview["balancers"] if b["name"] == "bronze")
    assert all(m["in_sync"] for m in bronze["members"]), [m["drift"] for m in bronze["members"]]
    assert bronze["unknown_live_members"] == []
