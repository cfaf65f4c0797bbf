"""Site options in HostPanel's routes.map read back (importer.recognise.routemap): each option field and the
edit host's own line, shape errors with their line; and a rendered tree with options imports back (its
sites, with a warning naming the options not imported)."""

from __future__ import annotations

from importer.reader import MappingSource
from importer.recognise.routemap import parse_routes_map, split_route
from importer.service import import_preview
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site

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


def test_a_rendered_tree_with_options_imports_back_its_sites_and_says_which_options_it_left(demo, frontend, actor):
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(
        site, actor=actor, manage_access="staff", blocked_methods=["PUT"], edit_host="edit.linux.co.uk"
    )
    tree = render_tree(load_snapshot(), frontend)
    files = {f"hostpanel/{path}": text.encode() for path, text in tree.items()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\n"
    Site.objects.all().delete()  # the balancers and Zope servers stay: matched, not created
    plan = import_preview(MappingSource(files, label="options"))
    assert plan.unrecognised == [], plan.unrecognised  # every rule of the options block is HostPanel's own
    assert [p.code for p in plan.problems] == ["map-options"]
    assert "management interface staff; blocked methods PUT; edit host edit.linux.co.uk" in plan.problems[0].message
    assert [p.candidate.domain for p in plan.sites] == ["linux.co.uk"]
    assert [name for name, _ in plan.sites[0].candidate.aliases] == ["www.linux.co.uk"]
