"""HostPanel's own rendered tree with Volto and frontend-only sites, read back by the importer: imported into an
empty panel it becomes the same rows (site kinds, frontend balancer, Classic UI path, Node.js servers and their
balancer of kind node), into the same panel it only matches, and on real Apache it is equivalent to its import."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer, BalancerMember, ZopeServer
from importer.equivalence import check_equivalence
from importer.reader import MappingSource
from importer.service import import_apply, import_preview
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.realparts import require_binary

SITE_FIELDS = ("domain", "kind", "balancer__name", "frontend_balancer__name", "classic_ui_path", "plone_path")
SERVER_FIELDS = ("name", "kind", "host", "port", "health_path")


def panel_state() -> tuple[list, list, list]:
    return (
        sorted(Site.objects.values_list(*SITE_FIELDS)),
        sorted(ZopeServer.objects.values_list(*SERVER_FIELDS)),
        sorted(Balancer.objects.values_list("name", "kind")),
    )


@pytest.fixture
def rendered_volto(demo, frontend, actor):
    """The demo data with a Node.js pool of two servers, a Volto site (Classic UI kept) and a frontend-only
    site, rendered as HostPanel deploys it; and the panel's state it was rendered from."""
    front = balancer_services.balancer_create(actor=actor, name="shop-front", kind="node")
    for n in (1, 2):
        server = balancer_services.zope_server_create(
            actor=actor, name=f"volto{n}", kind="node", host="10.0.1.1", port=3000 + n
        )
        balancer_services.member_create(actor=actor, balancer=front, zope_server=server)
    site_services.site_create(
        actor=actor,
        domain="shop.example",
        balancer=demo.name,
        plone_path="/Plone",
        kind="volto",
        frontend_balancer=front,
        classic_ui_path="/ClassicUI",
    )
    site_services.site_create(
        actor=actor,
        domain="next.example",
        balancer=demo.name,
        plone_path="/next",
        kind="frontend_only",
        frontend_balancer=front,
    )
    expected = panel_state()
    tree = render_tree(load_snapshot(), frontend)
    files = {f"hostpanel/{path}": text.encode() for path, text in tree.items()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\n"
    return MappingSource(files, label="volto"), expected


def test_the_rendered_volto_tree_into_the_same_panel_only_matches(rendered_volto):
    source, _ = rendered_volto
    plan = import_preview(source)
    assert plan.conflicts == [] and plan.problems == [], [*plan.conflicts, *plan.problems]
    assert not plan.creates_anything


def test_the_rendered_volto_tree_into_an_empty_panel_becomes_the_same_rows(rendered_volto, actor):
    source, expected = rendered_volto
    Site.objects.all().delete()  # the Node.js tier goes too; the demo's Zope servers and balancer stay (matched)
    BalancerMember.objects.filter(balancer__kind="node").delete()
    Balancer.objects.filter(kind="node").delete()
    ZopeServer.objects.filter(kind="node").delete()
    plan = import_preview(source)
    assert plan.unrecognised == [], plan.unrecognised  # every rule is HostPanel's own
    assert not plan.blocked and plan.skipped == [], [*plan.errors, *plan.skipped]
    node = {p.candidate.name: p.candidate.kind for p in plan.zope_servers}
    assert (node["volto1"], node["volto2"]) == ("node", "node")
    import_apply(plan, actor=actor, accept_warnings=True)
    assert panel_state() == expected
    assert Site.objects.get(domain="shop.example").frontend_balancer.kind == "node"


@pytest.mark.real
def test_the_rendered_volto_tree_is_equivalent_to_its_import_on_real_apache(rendered_volto):
    """Both sides are HostPanel's rendering, and each balancer is asked directly on both: the Node.js pool
    (kind node, rendered single-pass) answers the same set of members, the Zope balancer the same routes.
    (The old copy does not run HostPanel's own sdbm routing map, so a map's sites are counted, not asked.)"""
    require_binary("apache2")
    source, _ = rendered_volto
    Site.objects.all().delete()
    report = check_equivalence(import_preview(source))
    assert not report.error, report.error
    assert report.equivalent, [c.differences for c in report.differing]
    asked = {c.domain: c.names for c in report.balancers}
    assert "balancer://shop-front" in asked and "balancer://bronze" in asked, asked
