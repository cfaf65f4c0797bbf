"""The site kind in HostPanel's routes.map read back (importer.recognise.routemap): a Volto site's `v=FRONT`
and `c=SEGMENT`, a frontend-only site's `f=FRONT`; and every rule a rendered tree with Volto and frontend-only
sites holds is recognised as HostPanel's own routing, the kind coming back on the site candidates.
(Recognising hand-written Volto configs and importing the kind into the panel: importer.recognise.volto.)"""

from __future__ import annotations

from balancers import services as balancer_services
from importer.reader import MappingSource
from importer.recognise.routemap import parse_routes_map, split_route
from importer.service import import_preview
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site

VALUE = "live|bronze|/Plone|s|__ac|1200"


def test_a_volto_and_a_frontend_only_line_carry_their_kind_and_frontend_balancer():
    volto = split_route(f"{VALUE}|z=s|v=front|c=ClassicUI")
    assert (volto.kind, volto.frontend_balancer, volto.classic_ui_path, volto.manage_access) == (
        "volto",
        "front",
        "/ClassicUI",
        "staff",
    )
    only = split_route(f"{VALUE}|f=front")
    assert (only.kind, only.frontend_balancer, only.classic_ui_path) == ("frontend_only", "front", "")
    classic = split_route(VALUE)
    assert (classic.kind, classic.frontend_balancer) == ("classic", "")


def test_a_kind_field_out_of_place_is_an_error_with_a_reason():
    assert "out of order" in split_route(f"{VALUE}|v=front|z=s")
    assert "out of order" in split_route(f"{VALUE}|v=front|f=front")
    assert "follows v=" in split_route(f"{VALUE}|f=front|c=ClassicUI")
    assert "follows v=" in split_route(f"{VALUE}|c=ClassicUI")
    assert "is empty" in split_route(f"{VALUE}|v=")


def test_a_rendered_tree_with_volto_sites_is_hostpanels_own_routing(demo, frontend, actor):
    front = balancer_services.balancer_create(actor=actor, name="front", kind="node")
    server = balancer_services.zope_server_create(actor=actor, name="volto1", kind="node", host="10.0.1.1", port=3000)
    balancer_services.member_create(actor=actor, balancer=front, zope_server=server)
    site_services.site_create(
        actor=actor,
        domain="shop.example",
        balancer="bronze",
        plone_path="/Plone",
        kind="volto",
        frontend_balancer=front,
        classic_ui_path="/ClassicUI",
        blocked_methods=["PUT"],
    )
    site_services.site_create(
        actor=actor,
        domain="next.example",
        balancer="bronze",
        plone_path="/next",
        kind="frontend_only",
        frontend_balancer=front,
    )
    tree = render_tree(load_snapshot(), frontend)
    groups = {g.domain: g.route for g in parse_routes_map(tree["routes.map"]).groups}
    assert (groups["shop.example"].kind, groups["shop.example"].classic_ui_path) == ("volto", "/ClassicUI")
    assert groups["next.example"].kind == "frontend_only"
    files = {f"hostpanel/{path}": text.encode() for path, text in tree.items()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\n"
    Site.objects.filter(domain__in=["shop.example", "next.example"]).delete()
    plan = import_preview(MappingSource(files, label="volto"))
    assert plan.unrecognised == [], plan.unrecognised  # every rule is HostPanel's own
    kinds = {p.candidate.domain: (p.candidate.kind, p.candidate.frontend_balancer) for p in plan.sites}
    assert kinds["shop.example"] == ("volto", "front") and kinds["next.example"] == ("frontend_only", "front")
