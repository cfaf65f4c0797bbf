"""Volto and frontend-only sites in the rendered tree: the kind rides in the routing-map value (so a Volto
site added, suspended, moved or changed in kind is a map-only change), Node.js balancers render like Zope
ones (single-pass), Node.js servers are checked on /ok, and a planted row that breaks the kind's rules
never reaches a config."""

from __future__ import annotations

import dataclasses

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer, ZopeServer
from rendering.render import UnsafeValue, render_tree, render_tree_isolated
from rendering.routes import (
    MapFormatError,
    Route,
    change_kind,
    map_entries,
    map_line,
    parse_options,
    parse_route,
    site_options,
)
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site


@pytest.fixture
def front(demo, actor) -> Balancer:
    front = balancer_services.balancer_create(actor=actor, name="front", kind="node")
    server = balancer_services.zope_server_create(actor=actor, name="volto1", kind="node", host="10.0.1.1", port=3000)
    balancer_services.member_create(actor=actor, balancer=front, zope_server=server)
    return front


def _changed(old: dict[str, str], new: dict[str, str]) -> set[str]:
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


def _map(frontend) -> dict[str, str]:
    return map_entries(render_tree(load_snapshot(), frontend)["routes.map"])


def test_a_volto_sites_value_names_its_frontend_balancer_and_classic_ui_segment(front, frontend, actor):
    site_services.site_create(
        actor=actor,
        domain="shop.example",
        balancer="bronze",
        plone_path="/Plone",
        kind="volto",
        frontend_balancer="front",
        classic_ui_path="/ClassicUI",
    )
    site_services.site_create(
        actor=actor,
        domain="next.example",
        balancer="bronze",
        plone_path="/next",
        kind="frontend_only",
        frontend_balancer=front,
    )
    routes = _map(frontend)
    assert routes["shop.example"] == "live|bronze|/Plone|s|BALANCEID|1200|v=front|c=ClassicUI"
    assert routes["next.example"] == "live|bronze|/next|s|BALANCEID|1200|f=front"
    assert routes["linux.co.uk"] == "live|bronze|/plone/linux|s|BALANCEID|1200"  # a Classic UI site: unchanged
    options = parse_options(parse_route(routes["shop.example"]).options)
    assert (options.kind, options.frontend, options.classic_ui) == ("volto", "front", "ClassicUI")


def test_the_kind_fields_come_after_the_site_options_and_read_back(front):
    tail = site_options(manage="staff", methods=("PUT",), kind="volto", frontend="front", classic_ui="Admin")
    assert tail == "|z=s|m=PUT|v=front|c=Admin"
    assert parse_options(tail) == dataclasses.replace(
        parse_options("|z=s|m=PUT"), kind="volto", frontend="front", classic_ui="Admin"
    )
    assert site_options(kind="classic", frontend="ignored") == ""


def test_adding_and_changing_the_kind_of_a_volto_site_is_a_map_only_change(front, frontend, actor):
    before = render_tree(load_snapshot(), frontend)
    site = site_services.site_create(
        actor=actor,
        domain="shop.example",
        balancer="bronze",
        plone_path="/Plone",
        kind="volto",
        frontend_balancer="front",
    )
    added = render_tree(load_snapshot(), frontend)
    assert change_kind(_changed(before, added)) == "map"
    site_services.site_update(site, actor=actor, kind="frontend_only")
    changed = render_tree(load_snapshot(), frontend)
    assert change_kind(_changed(added, changed)) == "map"
    site_services.site_update(
        Site.objects.get(domain="linux.co.uk"), actor=actor, kind="volto", frontend_balancer=front
    )
    site_services.site_suspend(site, actor=actor, reason="unpaid")
    last = render_tree(load_snapshot(), frontend)
    assert change_kind(_changed(changed, last)) == "map"
    assert _map(frontend)["shop.example"].startswith("suspended|bronze|/Plone|s|")


def test_a_node_balancer_renders_single_pass_with_its_members_checked_on_ok(front, frontend, actor):
    balancer_services.balancer_update(front, actor=actor, render_mode="node-vhosts")
    frontend.apache_facts = {"checked_at": "2026-12-07T12:00:00+00:00", "modules": ["proxy_hcheck", "watchdog"]}
    frontend.save(update_fields=["apache_facts"])
    tree = render_tree(load_snapshot(), frontend)
    block = tree["balancers.conf"].split('<Proxy "balancer://front">', 1)[1].split("</Proxy>", 1)[0]
    assert "BalancerMember http://10.0.1.1:3000 " in block  # the Node.js server itself, never a node vhost
    assert "route=volto1" in block and "hcuri=/ok" in block
    assert "volto1" not in tree["nodes.conf"]


def test_a_node_server_left_at_the_root_health_path_is_checked_on_ok_and_a_chosen_one_is_kept(db, actor):
    node = balancer_services.zope_server_create(actor=actor, name="n1", kind="node", host="10.0.0.1", port=3000)
    assert node.health_path == "/ok"
    own = balancer_services.zope_server_create(
        actor=actor, name="n2", kind="node", host="10.0.0.2", port=3000, health_path="/health"
    )
    assert own.health_path == "/health"
    zope = balancer_services.zope_server_create(actor=actor, name="z1", host="10.0.0.3", port=8080)
    assert zope.health_path == "/"


def test_a_planted_row_with_a_zope_balancer_as_frontend_is_refused_and_left_out_alone(front, frontend, actor):
    site = site_services.site_create(
        actor=actor,
        domain="shop.example",
        balancer="bronze",
        plone_path="/Plone",
        kind="volto",
        frontend_balancer="front",
    )
    good = render_tree(load_snapshot(), frontend)
    Site.objects.filter(pk=site.pk).update(frontend_balancer=Balancer.objects.get(name="silver"))
    with pytest.raises(UnsafeValue, match="not a Node.js balancer"):
        render_tree(load_snapshot(), frontend)
    result = render_tree_isolated(load_snapshot(), frontend, previous=good)
    assert [p.site for p in result.problems] == ["shop.example"]
    assert map_entries(result.tree["routes.map"])["shop.example"].endswith("|v=front")  # its previous route kept
    # what the database's constraints refuse, the renderer refuses too (a record built past them)
    snapshot = load_snapshot()
    planted = [dataclasses.replace(r, kind="classic") if r.domain == "shop.example" else r for r in snapshot.sites]
    with pytest.raises(UnsafeValue, match="Classic UI site with a frontend"):
        render_tree(dataclasses.replace(snapshot, sites=tuple(planted)), frontend)
    planted = [dataclasses.replace(r, classic_ui_path="/a b") if r.domain == "shop.example" else r for r in planted]
    planted = [
        dataclasses.replace(r, kind="volto", frontend_balancer="front") for r in planted if r.domain == "shop.example"
    ]
    with pytest.raises(UnsafeValue, match="classic_ui_path"):
        render_tree(dataclasses.replace(snapshot, sites=tuple(planted)), frontend)


def test_a_node_balancer_as_a_sites_zope_balancer_is_refused(front, frontend, actor):
    Site.objects.filter(domain="linux.co.uk").update(balancer=front)
    with pytest.raises(UnsafeValue, match="not a Zope balancer"):
        render_tree(load_snapshot(), frontend)
    assert ZopeServer.objects.get(name="volto1").kind == "node"


def test_a_map_line_refuses_a_kind_field_out_of_its_shape():
    base = Route("live", "bronze", "/Plone", "s", "BALANCEID", 1200)
    assert map_line("a.example", dataclasses.replace(base, options="|v=front|c=ClassicUI")).endswith("|c=ClassicUI")
    for options in ("|c=ClassicUI", "|f=front|c=ClassicUI", "|v=front|z=s", "|v=Front", "|v=front|c=1x", "|v="):
        with pytest.raises(MapFormatError):
            map_line("a.example", dataclasses.replace(base, options=options))
