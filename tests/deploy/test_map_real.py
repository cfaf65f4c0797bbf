"""Reload-free routing against the real parts: two front-ends (real sshd + Apache each, the `farm`), the
map uploaded over SSH, requests through Apache to fake Zope backends."""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
from pathlib import Path

import pytest

from balancers import services as balancer_services
from balancers.choices import ChangeKind, HostStage
from balancers.services import deployment_start
from deploy.runner import deployment_execute
from devrig.apache import write_tree
from devrig.fleet import add_site
from devrig.net import free_port, http_get
from rendering.render import render_tree
from rendering.routes import ROUTES_MAP, ROUTES_RECENT, map_entries, parse_map
from rendering.snapshot import BalancerRecord, FrontEndRecord, MemberRecord, SiteRecord, Snapshot, ZopeServerRecord
from sites import services as site_services
from sites.models import Site
from tests.factories import ACTOR

pytestmark = [pytest.mark.real, pytest.mark.django_db(transaction=True)]


def deploy():
    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    deployment.refresh_from_db()
    assert deployment.status == "succeeded", [(h.frontend_name, h.error) for h in deployment.hosts.all()]
    return deployment


def children(apache) -> set[int]:
    """The pids of the Apache parent's children (they survive a map change; a graceful replaces them)."""
    parent = apache.pid()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_a_map_only_change_is_live_with_no_configtest_no_graceful_and_the_children_keep_their_pids(farm):
    add_site("first.example", farm.balancer)
    add_site("leaving.example", farm.balancer)
    deploy()
    for host in farm.hosts:
        assert host.backend_for("leaving.example") is not None
    before = {h.name: (h.reloads(), children(h.apache), h.apache.error_log()) for h in farm.hosts}

    add_site("second.example", farm.balancer)
    site_services.site_suspend(Site.objects.get(domain="first.example"), actor=ACTOR, reason="unpaid")
    site_services.site_delete(Site.objects.get(domain="leaving.example"), actor=ACTOR)
    deployment = deploy()

    for row in deployment.hosts.all():
        assert row.change_kind == ChangeKind.MAP, row.output
        assert row.stage == HostStage.DONE
        assert "configtest" not in row.output and "graceful" not in row.output, row.output
        assert row.files_uploaded == 3  # routes-recent.map (the overlay), the release file, MANIFEST: the base stays
    for host in farm.hosts:
        reloads, pids, log = before[host.name]
        assert "leaving.example" in map_entries((host.config_dir / ROUTES_MAP).read_text())  # still in the base
        assert host.backend_for("second.example") is not None  # from the overlay
        assert host.get("first.example")[0] == 503  # the overlay's line wins over the base's
        assert host.get("leaving.example")[0] == 404  # gone in the overlay
        assert host.reloads() == reloads
        assert children(host.apache) == pids
        new_log = host.apache.error_log()[len(log) :]
        assert "graceful" not in new_log.lower(), new_log


def test_a_config_change_still_runs_configtest_and_graceful(farm):
    add_site("first.example", farm.balancer)
    deploy()
    reloads = {h.name: h.reloads() for h in farm.hosts}
    balancer_services.balancer_create(actor=ACTOR, name="gold")
    deployment = deploy()
    for row in deployment.hosts.all():
        assert row.change_kind == ChangeKind.CONFIG
        assert "-k graceful" in row.output
    for host in farm.hosts:
        assert host.reloads() == reloads[host.name] + 1


def test_two_map_changes_within_one_second_both_take_effect(farm):
    """Apache re-reads the map only when its mtime changes: each upload must get its own."""
    site = add_site("quick.example", farm.balancer)
    deploy()
    for _ in range(3):
        site = site_services.site_suspend(site, actor=ACTOR, reason="x")
        deploy()
        assert all(h.get("quick.example")[0] == 503 for h in farm.hosts)
        site = site_services.site_unsuspend(site, actor=ACTOR)
        deploy()
        assert all(h.backend_for("quick.example", timeout=0.5) for h in farm.hosts)


def test_a_site_moved_to_another_balancer_goes_there_at_request_time(farm, backend_factory):
    other = backend_factory("zope3")
    server = balancer_services.zope_server_create(actor=ACTOR, name="zope3", host="127.0.0.1", port=other.port)
    silver = balancer_services.balancer_create(actor=ACTOR, name="silver")
    balancer_services.member_create(actor=ACTOR, balancer=silver, zope_server=server, retry=0)
    site = add_site("mover.example", farm.balancer)
    deploy()
    assert farm.fe1.backend_for("mover.example")["backend"] in {"zope1", "zope2"}
    reloads = farm.fe1.reloads()
    site_services.site_update(site, actor=ACTOR, balancer=silver, plone_path="/plone/moved")
    deployment = deploy()
    assert {row.change_kind for row in deployment.hosts.all()} == {ChangeKind.MAP}
    for host in farm.hosts:
        answer = host.backend_for("mover.example")
        assert answer["backend"] == "zope3"
        assert answer["path"] == "/VirtualHostBase/http/mover.example:80/plone/moved/VirtualHostRoot/"
    assert farm.fe1.reloads() == reloads


def test_a_request_in_flight_during_a_map_change_completes(farm, backend_factory):
    slow = backend_factory("slow", delay=1.5)
    server = balancer_services.zope_server_create(actor=ACTOR, name="slow", host="127.0.0.1", port=slow.port)
    tortoise = balancer_services.balancer_create(actor=ACTOR, name="tortoise")
    balancer_services.member_create(actor=ACTOR, balancer=tortoise, zope_server=server, retry=0, timeout=10)
    site = add_site("slow.example", tortoise)
    deploy()
    results = {}

    def request():
        results["answer"] = http_get(farm.fe1.http_port, "/long", host="slow.example", timeout=20)

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.3)  # the request is at the backend now
    site_services.site_suspend(site, actor=ACTOR, reason="while a request is in flight")
    add_site("during.example", farm.balancer)
    deployment = deploy()
    thread.join(timeout=20)
    assert {row.change_kind for row in deployment.hosts.all()} == {ChangeKind.MAP}
    assert results["answer"].status == 200 and results["answer"].headers["X-Backend"] == "slow"
    assert farm.fe1.get("slow.example")[0] == 503  # the next request sees the new map


def _login(port: int, host: str, user: str) -> tuple[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = f"__ac_name={user}&__ac_password=x"
        headers = {"Host": host, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/login", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        return response.getheader("X-Backend"), "; ".join(cookies)
    finally:
        connection.close()


def test_twenty_logins_stay_on_their_zope_across_a_map_change(farm):
    add_site("sticky.example", farm.balancer)
    deploy()
    sessions = [_login(farm.fe1.http_port, "sticky.example", f"user{i}") for i in range(20)]
    assert {backend for backend, _ in sessions} == {"zope1", "zope2"}  # byrequests spreads them
    assert all("=balancer.zope" in cookie for _, cookie in sessions), sessions[0]  # the sticky cookie
    add_site("another.example", farm.balancer)
    site_services.site_update(Site.objects.get(domain="sticky.example"), actor=ACTOR, aliases=["www.sticky.example"])
    deployment = deploy()
    assert {row.change_kind for row in deployment.hosts.all()} == {ChangeKind.MAP}
    for i, (backend, cookie) in enumerate(sessions):
        for name in ("sticky.example", "www.sticky.example"):
            answer = http_get(farm.fe1.http_port, "/", host=name, cookie=cookie)
            assert answer.headers["X-Backend"] == backend, (i, name, cookie)
            assert f'"user": "user{i}"' in answer.body


def test_a_reader_never_sees_a_half_written_map_during_uploads(farm, settings):
    """The map becomes live by one rename (the config_dir symlink): read it in a loop meanwhile. A small
    overlay bound makes some of these releases new bases, so both files are rewritten."""
    settings.HOSTPANEL_ROUTES_OVERLAY_MAX_LINES = 3
    sites = [add_site(f"atomic{i}.example", farm.balancer) for i in range(40)]
    deploy()
    path = farm.fe1.config_dir / ROUTES_MAP
    seen, bases, bad, stop = [], [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                text, overlay = path.read_text(), path.with_name(ROUTES_RECENT).read_text()
            except FileNotFoundError:
                bad.append("missing")
                continue
            groups = parse_map(text)
            header = text.splitlines()[0] if text else ""
            if not text.endswith("\n") or f": {len(groups)} sites" not in header:
                bad.append(header)
            if not overlay.startswith("# HostPanel routing overlay") or not overlay.endswith("\n"):
                bad.append(overlay[:80])
            seen.append(hash(overlay))
            bases.append(hash(text))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i, site in enumerate(sites[:8]):
            site_services.site_delete(site, actor=ACTOR) if i % 2 else add_site(f"extra{i}.example", farm.balancer)
            deploy()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not bad, bad[:5]
    assert len(set(seen)) > 4 and len(seen) > 50  # it did read across several maps
    assert len(set(bases)) > 1  # and across a new base


def test_a_map_of_10000_sites_is_read_correctly(tmp_path, apache_factory, backend_factory):
    """10,000 sites (20,000 host names) routed through one map: random names reach their own Plone path."""
    backend = backend_factory("zope1")
    server = ZopeServerRecord("zope1", "127.0.0.1", backend.port)
    member = MemberRecord(zope_server=server)
    balancer = BalancerRecord(name="bronze", members=(member,))
    sites = tuple(
        SiteRecord(f"s{i:05d}.example.net", "bronze", f"/plone/p{i}", aliases=(f"www.s{i:05d}.example.net",))
        for i in range(10_000)
    )
    port = free_port()
    config_dir = tmp_path / "conf"
    record = FrontEndRecord(name="big", config_dir=str(config_dir), http_listen=f"127.0.0.1:{port}")
    tree = render_tree(
        Snapshot(zope_servers=(server,), balancers=(balancer,), sites=sites, frontends=(record,)), record
    )
    assert len(map_entries(tree[ROUTES_MAP])) == 20_000
    write_tree(tree, config_dir)  # and routes.dbm, built from routes.map as a front-end does
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"])
    apache.start()
    picks = random.Random(os.getpid()).sample(range(10_000), 40) + [0, 9_999]
    for i in picks:
        for name in (f"s{i:05d}.example.net", f"www.s{i:05d}.example.net"):
            answer = http_get(port, "/x", host=name)
            assert answer.status == 200, (name, answer.status)
            assert f"/plone/p{i}/VirtualHostRoot/x" in answer.body
    assert http_get(port, "/", host="s10000.example.net").status == 404
