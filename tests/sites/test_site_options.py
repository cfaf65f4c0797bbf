"""Site options (manage_access, blocked_methods, passthrough_paths, edit_host): one set of validators
(hostpanel.validators) behind the model, the service, the form and the CSV import; what reaches the
routing map (rendering.routes), and the renderer's second check of a planted value."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from hostpanel import validators
from rendering.render import render_tree, render_tree_isolated
from rendering.routes import map_entries, parse_map, parse_options, parse_route
from rendering.snapshot import load_snapshot
from rendering.values import UnsafeValue, staff_expression
from sites import services as site_services
from sites.forms import parse_site_csv
from sites.models import Site

# --- validators ------------------------------------------------------------------------------------


def test_blocked_methods_are_normalised_to_the_fixed_order_and_anything_else_is_refused():
    assert validators.normalize_blocked_methods("propfind, put DELETE;put") == ["PUT", "DELETE", "PROPFIND"]
    assert validators.normalize_blocked_methods([]) == []
    for bad in (["GET"], ["POST"], ["HEAD"], ["PU T"], ["FOO"], "PUT,<Directory>", [1]):
        with pytest.raises(ValidationError):
            validators.normalize_blocked_methods(bad)
    with pytest.raises(ValidationError, match="cannot be blocked: choose among PUT, DELETE"):
        validators.normalize_blocked_methods(["GET"])


@pytest.mark.parametrize("path", ["/icons/", "/robots.txt", "/static/js/", "/favicon.ico", "/.well-known/x/"])
def test_plain_paths_pass_through(path):
    validators.validate_passthrough_path(path)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/", "would pass everything"),
        ("icons/", "must start with '/'"),
        ("/icons/(.*)", "not a pattern"),
        ("^/icons/", "must start with '/'"),
        ("/icons/*", "not a pattern"),
        ("/ico ns/", "a space"),
        ('/icons/"', "a double quote"),
        ("/icons/\nInclude /etc/passwd", "newline"),
        ("/a//b/", "'//'"),
        ("/../etc/", "'..'"),
        ("/hostpanel-503.html", "reserved"),
        ("/a,b/", "','"),
        ("/a|b/", "not a pattern"),
        ("/a#b", "'#'"),
        ("/a%20b", "'%'"),
        ("/" + "x" * 120, "at most 100"),
    ],
)
def test_a_pass_through_path_that_is_not_a_plain_path_is_refused_with_a_reason(path, message):
    with pytest.raises(ValidationError) as caught:
        validators.validate_passthrough_path(path)
    assert message in " ".join(caught.value.messages)


def test_pass_through_paths_are_sorted_once_and_bounded():
    assert validators.normalize_passthrough_paths("/static/ /icons/\n/icons/") == ["/icons/", "/static/"]
    with pytest.raises(ValidationError, match="At most 20"):
        validators.normalize_passthrough_paths([f"/p{i}/" for i in range(21)])
    with pytest.raises(ValidationError, match="total at most"):
        validators.normalize_passthrough_paths([f"/{i:02d}{'x' * 90}/" for i in range(5)])


def test_staff_networks_are_cidrs_and_become_one_expression():
    assert validators.parse_staff_networks("10.0.0.0/8, 2001:db8::/32") == ("10.0.0.0/8", "2001:db8::/32")
    for bad in ("10.0.0.1/8", "10.0.0.0/8 Require all granted", "any"):
        with pytest.raises(ValidationError):
            validators.parse_staff_networks(bad)
    assert staff_expression(("10.0.0.0/8", "::1/128")) == "-R '10.0.0.0/8' || -R '::1/128'"
    assert staff_expression(()) == "false"  # nobody is staff
    with pytest.raises(UnsafeValue):
        staff_expression(("10.0.0.0/8' || true || '",))


# --- the model and the service -----------------------------------------------------------------------


def test_a_site_stores_its_options_normalised_and_the_map_carries_them(demo, frontend, actor):
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(
        site,
        actor=actor,
        manage_access="staff",
        blocked_methods=["propfind", "PUT"],
        passthrough_paths=["/static/", "/icons/"],
        edit_host="Edit.Linux.co.uk",
    )
    site.refresh_from_db()
    assert (site.blocked_methods, site.passthrough_paths, site.edit_host) == (
        ["PUT", "PROPFIND"],
        ["/icons/", "/static/"],
        "edit.linux.co.uk",
    )
    routes = map_entries(render_tree(load_snapshot(), frontend)["routes.map"])
    assert routes == {
        "linux.co.uk": "live|bronze|/plone/linux|s|BALANCEID|1200|z=s|m=PUT,PROPFIND|p=/icons/,/static/",
        "www.linux.co.uk": "live|bronze|/plone/linux|s|BALANCEID|1200|z=s|m=PUT,PROPFIND|p=/icons/,/static/",
        "edit.linux.co.uk": "live|bronze|/plone/linux|s|BALANCEID|1200|e|z=s|m=PUT,PROPFIND|p=/icons/,/static/",
    }
    options = parse_options(parse_route(routes["edit.linux.co.uk"]).options)
    assert (options.edit_host, options.manage, options.methods, options.paths) == (
        True,
        "staff",
        ("PUT", "PROPFIND"),
        ("/icons/", "/static/"),
    )
    group = parse_map(render_tree(load_snapshot(), frontend)["routes.map"])["linux.co.uk"]
    assert group.route_of("edit.linux.co.uk").edit_host and not group.route.edit_host


def test_a_suspended_sites_edit_host_is_suspended_too(demo, frontend, actor):
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(site, actor=actor, edit_host="edit.linux.co.uk")
    site_services.site_suspend(site, actor=actor)
    routes = map_entries(render_tree(load_snapshot(), frontend)["routes.map"])
    assert routes["edit.linux.co.uk"].startswith("suspended|") and routes["edit.linux.co.uk"].endswith("|e")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"manage_access": "staff-only"}, "manage_access", "not a valid choice"),
        ({"blocked_methods": ["GET"]}, "blocked_methods", "cannot be blocked"),
        ({"passthrough_paths": ["/"]}, "passthrough_paths", "would pass everything"),
        ({"passthrough_paths": "/icons/ ^/x"}, "passthrough_paths", "must start with '/'"),
        ({"edit_host": "edit host.example"}, "edit_host", ""),
        ({"edit_host": "edit.example\nInclude x"}, "edit_host", "newline"),
        ({"edit_host": "linux.co.uk"}, "edit_host", "must differ from the site's domain"),
        ({"edit_host": "www.linux.co.uk"}, "edit_host", "already an alias of this site"),
    ],
)
def test_a_bad_option_is_refused_on_its_field(demo, actor, fields, field, message):
    site = Site.objects.get(domain="linux.co.uk")
    with pytest.raises(ValidationError) as caught:
        site_services.site_update(site, actor=actor, **fields)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])
    site.refresh_from_db()
    assert (site.manage_access, site.blocked_methods, site.passthrough_paths, site.edit_host) == ("public", [], [], "")


def test_an_edit_host_is_a_name_of_its_own_across_domains_aliases_and_edit_hosts(demo, actor):
    bronze = demo
    site = Site.objects.get(domain="linux.co.uk")
    other = site_services.site_create(actor=actor, domain="other.example", balancer=bronze, plone_path="/plone/o")
    site_services.site_update(site, actor=actor, edit_host="edit.example")
    with pytest.raises(ValidationError, match="already the edit host"):  # two edit hosts
        site_services.site_update(other, actor=actor, edit_host="edit.example")
    with pytest.raises(ValidationError, match="already the edit host"):  # an alias
        site_services.site_update(other, actor=actor, aliases=["edit.example"])
    with pytest.raises(ValidationError, match="already the edit host"):  # a domain
        site_services.site_create(actor=actor, domain="edit.example", balancer=bronze, plone_path="/plone/e")
    with pytest.raises(ValidationError, match="already the domain of the site other.example"):
        site_services.site_update(site, actor=actor, edit_host="other.example")


def test_a_planted_option_is_refused_by_the_renderer_and_leaves_the_site_out(demo, frontend, actor):
    site = Site.objects.get(domain="linux.co.uk")
    good = render_tree(load_snapshot(), frontend)
    Site.objects.filter(pk=site.pk).update(passthrough_paths=["/x/ Require all granted"])
    result = render_tree_isolated(load_snapshot(), frontend, good)
    assert [p.site for p in result.problems] == ["linux.co.uk"]
    assert map_entries(result.tree["routes.map"]) == map_entries(good["routes.map"])  # its previous routes kept
    Site.objects.filter(pk=site.pk).update(passthrough_paths=[], blocked_methods=["GET"])
    with pytest.raises(UnsafeValue, match="blocked_methods"):
        render_tree(load_snapshot(), frontend)


# --- the form and the CSV import -------------------------------------------------------------------

SITE_DATA = {"domain": "new.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/new"}


def test_an_operator_sets_the_options_in_the_site_form(operator_client, demo):
    data = {
        **SITE_DATA,
        "manage_access": "blocked",
        "blocked_methods": ["PUT", "MKCOL"],
        "passthrough_paths": "/icons/\r\n/robots.txt\r\n",
        "edit_host": "edit.new.example.com",
    }
    response = operator_client.post(reverse("sites:site_create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    site = Site.objects.get(domain="new.example.com")
    assert (site.manage_access, site.blocked_methods, site.passthrough_paths, site.edit_host) == (
        "blocked",
        ["PUT", "MKCOL"],
        ["/icons/", "/robots.txt"],
        "edit.new.example.com",
    )
    page = operator_client.get(reverse("sites:site_update", args=["new.example.com"])).content.decode()
    assert "edit.new.example.com" in page and "/robots.txt" in page
    detail = operator_client.get(site.get_absolute_url()).content.decode()
    assert "Blocked (403 for everyone)" in detail and "PUT, MKCOL" in detail


def test_the_form_shows_the_validator_message_under_the_field(operator_client, demo):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "passthrough_paths": "/icons/(.*)"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "not a pattern" in " ".join(form.errors["passthrough_paths"])
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "blocked_methods": ["GET"]})
    assert "blocked_methods" in response.context["form"].errors  # not even a choice of the form
    assert not Site.objects.filter(domain="new.example.com").exists()


def test_the_csv_import_takes_the_option_columns(demo, actor):
    rows = [
        {
            "domain": "one.example.com",
            "balancer": "bronze",
            "plone_path": "/plone/1",
            "manage_access": "Staff",
            "blocked_methods": "put;propfind",
            "passthrough_paths": "/icons/ /robots.txt",
            "edit_host": "edit.one.example.com",
        },
        {"domain": "two.example.com", "balancer": "bronze", "plone_path": "/plone/2"},
    ]
    result = site_services.site_import(rows, actor=actor)
    assert result.imported, [row.errors for row in result.rows]
    one = Site.objects.get(domain="one.example.com")
    assert (one.manage_access, one.blocked_methods, one.passthrough_paths, one.edit_host) == (
        "staff",
        ["PUT", "PROPFIND"],
        ["/icons/", "/robots.txt"],
        "edit.one.example.com",
    )
    two = Site.objects.get(domain="two.example.com")
    assert (two.manage_access, two.blocked_methods, two.passthrough_paths, two.edit_host) == ("public", [], [], "")


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"manage_access": "nobody"}, "manage_access"),
        ({"blocked_methods": "GET"}, "blocked_methods"),
        ({"passthrough_paths": "/icons/*"}, "passthrough_paths"),
        ({"edit_host": "www.linux.co.uk"}, "edit_host"),
    ],
)
def test_a_bad_option_cell_is_reported_on_its_row_and_nothing_is_imported(demo, actor, cells, field):
    rows = [{"domain": "one.example.com", "balancer": "bronze", "plone_path": "/plone/1", **cells}]
    result = site_services.site_import(rows, actor=actor)
    assert not result.imported
    assert field in result.rows[0].errors, result.rows[0].errors
    assert not Site.objects.filter(domain="one.example.com").exists()


def test_the_csv_header_may_name_the_option_columns(demo, actor):
    text = "domain,balancer,plone_path,manage_access,blocked_methods,passthrough_paths,edit_host\n"
    text += "csv.example.com,bronze,/plone/c,blocked,PUT DELETE,/icons/;/static/,edit.csv.example.com\n"
    rows = parse_site_csv(text)
    result = site_services.site_import(rows, actor=actor)
    assert result.imported, [row.errors for row in result.rows]
    site = Site.objects.get(domain="csv.example.com")
    assert (site.blocked_methods, site.passthrough_paths) == (["PUT", "DELETE"], ["/icons/", "/static/"])
