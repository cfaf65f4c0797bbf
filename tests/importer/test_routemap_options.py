"""Site options in HostPanel's routes.map read back (importer.recognise.routemap): each option field and the
edit host's own line, shape errors with their line; and a rendered tree with options imports back into the
same options (a site whose options differ in the panel is a conflict; a refused option leaves its site out)."""

from __future__ import annotations

import pytest

from balancers.models import Balancer
from importer.equivalence import check_equivalence
from importer.reader import MappingSource
from importer.recognise.routemap import parse_routes_map, split_route
from importer.service import import_apply, import_preview
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site, SiteAlias
from tests.realparts import require_binary

VALUE = "live|gold|/plone/a|s|__ac|1200"
MAP = (
    "# site a.example\n"
    f"a.example {VALUE}|z=s|m=PUT,PROPFIND|p=/icons/,/robots.txt\n"
    f"www.a.example {VALUE}|z=s|m=PUT,PROPFIND|p=/icons/,/robots.txt\n"
    f"edit.a.example {VALUE}|e|z=s|m=PUT,PROPFIND|p=/icons/,/robots.txt\n"
    "# site b.example\n"
    f"b.example {VALUE.replace('/a', '/b')}\n"
)


def test_options_and_the_edit_host_are_read_from_their_fields():
    parsed = parse_routes_map(MAP)
    a, b = parsed.groups
    assert a.errors == [] and b.errors == []
    assert [line.name for line in a.lines] == ["a.example", "www.a.example"]  # the edit host is no alias
    assert a.edit_host is not None and (a.edit_host.name, a.edit_host.line) == ("edit.a.example", 4)
    assert (a.route.manage_access, a.route.blocked_methods, a.route.passthrough_paths) == (
        "staff",
        ("PUT", "PROPFIND"),
        ("/icons/", "/robots.txt"),
    )
    assert (b.route.manage_access, b.route.blocked_methods, b.route.passthrough_paths, b.edit_host) == (
        "public",
        (),
        (),
        None,
    )


def test_an_option_that_is_not_one_is_an_error_with_a_reason():
    assert "not a site option" in split_route(f"{VALUE}|x=1")
    assert "out of order" in split_route(f"{VALUE}|m=PUT|z=s")
    assert "out of order" in split_route(f"{VALUE}|z=s|z=b")
    assert "z=s (staff) or z=b" in split_route(f"{VALUE}|z=x")
    assert "is empty" in split_route(f"{VALUE}|p=")
    differs = f"# site a.example\na.example {VALUE}|z=s\nedit.a.example {VALUE}|e|z=b\n"
    assert parse_routes_map(differs).groups[0].errors == [(3, "the edit host's route differs from the site's line 2")]


OPTION_FIELDS = ("domain", "plone_path", "manage_access", "blocked_methods", "passthrough_paths", "edit_host")


def sites_state() -> list[tuple]:
    return sorted(Site.objects.values_list(*OPTION_FIELDS))


def rendered_with_options(actor, frontend, mode: str = "single-pass") -> tuple[MappingSource, list[tuple]]:
    """The demo data with every site option set, rendered (in `mode`) as HostPanel deploys it."""
    Balancer.objects.update(render_mode=mode)
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(
        site,
        actor=actor,
        manage_access="staff",
        blocked_methods=["PUT", "PROPFIND"],
        passthrough_paths=["/icons/", "/robots.txt"],
        edit_host="edit.linux.co.uk",
    )
    expected = sites_state()
    tree = render_tree(load_snapshot(), frontend)
    files = {f"hostpanel/{path}": text.encode() for path, text in tree.items()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\n"
    return MappingSource(files, label="options"), expected


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_rendered_tree_with_options_imports_back_into_the_same_options(demo, frontend, actor, mode):
    source, expected = rendered_with_options(actor, frontend, mode)
    assert expected[0][2:] == ("staff", ["PUT", "PROPFIND"], ["/icons/", "/robots.txt"], "edit.linux.co.uk")
    # into the same panel: every option matches, nothing to create, no conflict
    again = import_preview(source)
    assert again.conflicts == [] and again.problems == [] and not again.creates_anything
    Site.objects.all().delete()  # the balancers and Zope servers stay: matched, not created
    plan = import_preview(source)
    assert plan.unrecognised == [], plan.unrecognised  # every rule of the options block is HostPanel's own
    assert plan.problems == [], plan.problems  # the options are imported, not a warning any more
    assert [p.candidate.domain for p in plan.sites] == ["linux.co.uk"]
    assert [name for name, _ in plan.sites[0].candidate.aliases] == ["www.linux.co.uk"]  # the edit host is no alias
    assert ("linux.co.uk", "edit_host", "edit.linux.co.uk") in plan.options
    import_apply(plan, actor=actor)
    assert sites_state() == expected
    assert sorted(SiteAlias.objects.values_list("name", flat=True)) == ["www.linux.co.uk"]


def test_a_site_whose_options_differ_in_the_panel_is_a_conflict_and_left_out(demo, frontend, actor):
    source, _ = rendered_with_options(actor, frontend)
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(site, actor=actor, manage_access="blocked", passthrough_paths=[], edit_host="")
    plan = import_preview(source)
    (conflict,) = plan.conflicts
    assert conflict.kind == "site"
    for part in (
        "management interface blocked -> staff",
        "pass-through paths (none) -> /icons/,/robots.txt",
        "edit host (none) -> edit.linux.co.uk",
    ):
        assert part in conflict.message, conflict.message
    assert [s.domain for s in plan.skipped] == ["linux.co.uk"] and not plan.blocked


def test_an_edit_host_taken_by_another_site_leaves_only_that_site_out(demo, frontend, actor):
    source, _ = rendered_with_options(actor, frontend)
    Site.objects.all().delete()
    Site.objects.create(domain="other.example", balancer=demo, plone_path="/plone/other", edit_host="edit.linux.co.uk")
    plan = import_preview(source)
    assert not plan.blocked and plan.sites == []
    (skipped,) = plan.skipped
    assert skipped.domain == "linux.co.uk"
    assert skipped.reasons == (
        "its site option edit_host (edit.linux.co.uk) is refused: edit.linux.co.uk is already the edit host of "
        "the site other.example.",
    )


@pytest.mark.real
def test_a_rendered_tree_with_options_is_equivalent_to_its_import_on_real_apache(demo, frontend, actor):
    """Both sides render the options (the old one is HostPanel's own tree): every option probe agrees."""
    require_binary("apache2")
    source, _ = rendered_with_options(actor, frontend)
    Site.objects.all().delete()
    report = check_equivalence(import_preview(source))
    assert not report.error, report.error
    assert report.equivalent, [c.differences for c in report.differing]
    # the management interface, both blocked methods, both pass-through paths (and below the exact one) and
    # the edit host were each asked of both sides, besides the routing probes
    assert report.requests >= 2 * 7
