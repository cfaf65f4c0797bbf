"""Blast radius: a row that still fails at render time (planted with QuerySet.update or raw SQL, past the
models' validation) leaves that site alone out of the tree — its previous group of routes.map lines
kept — the deployment is `partial` with the reason on the deployment, the host row and the site, and
every other change goes out."""

from __future__ import annotations

import os

from django.urls import reverse

from balancers.choices import DeploymentStatus, HostStatus
from balancers.services import deployment_start
from deploy.runner import deployment_execute
from deploy.stored import stored_files
from rendering.render import render_tree_isolated
from rendering.routes import ROUTES_MAP, SiteRoutes, map_entries, parse_map, whole_map
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site, SiteAlias
from tests.assertions import whole_map_at
from tests.factories import ACTOR, make_local_frontend


def deploy():
    return deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)


def read(frontend, path: str) -> str | None:
    full = os.path.join(frontend.config_dir, path)
    if not os.path.exists(full):
        return None
    with open(full) as fh:
        return fh.read()


def routes(frontend) -> dict[str, SiteRoutes]:
    """{site domain: its group of lines} of the live routes.map."""
    return parse_map(whole_map_at(frontend.config_dir))


def test_a_planted_bad_value_leaves_only_that_site_out_and_keeps_its_previous_routes(demo, tmp_path):
    frontend = make_local_frontend(tmp_path)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before = routes(frontend)["linux.co.uk"]
    assert before.names == ("linux.co.uk", "www.linux.co.uk")
    # a hostile value written past full_clean(): it would add a directive to the config
    Site.objects.filter(domain="linux.co.uk").update(plone_path="/plone/x\n  Include /etc/shadow")
    site_services.site_create(actor=ACTOR, domain="new.example", balancer="bronze", plone_path="/plone/new")

    deployment = deploy()
    row = deployment.hosts.get()
    assert deployment.status == DeploymentStatus.PARTIAL
    assert row.status == HostStatus.SUCCEEDED  # the host itself took the tree
    assert "linux.co.uk" in deployment.message and "Every other change went out" in deployment.message
    assert row.left_out == [{"site": "linux.co.uk", "reason": row.left_out[0]["reason"], "kept": ROUTES_MAP}]
    assert "plone_path" in row.left_out[0]["reason"] and "linux.co.uk" in row.error
    assert routes(frontend)["linux.co.uk"] == before  # its lines as deployed before
    assert "Include /etc/shadow" not in "".join(stored_files(row.tree).values())
    assert "new.example" in routes(frontend)  # the other change went out
    assert "plone_path" in Site.objects.get(domain="linux.co.uk").render_error

    # repaired: the next deployment renders it again, succeeds, and the site's reason is gone
    Site.objects.filter(domain="linux.co.uk").update(plone_path="/plone/linux2")
    again = deploy()
    assert again.status == DeploymentStatus.SUCCEEDED and again.hosts.get().left_out == []
    assert routes(frontend)["linux.co.uk"].route.plone_path == "/plone/linux2"
    assert Site.objects.get(domain="linux.co.uk").render_error == ""


def test_a_domain_changed_to_its_own_alias_keeps_the_sites_previous_routes_and_blocks_nothing_else(demo, tmp_path):
    frontend = make_local_frontend(tmp_path)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before = whole_map_at(frontend.config_dir)
    # the reproduced bug: the domain becomes its own alias, so the site claims www.linux.co.uk twice
    Site.objects.filter(domain="linux.co.uk").update(domain="www.linux.co.uk")
    site_services.site_create(actor=ACTOR, domain="other.example", balancer="bronze", plone_path="/plone/o")

    deployment = deploy()
    row = deployment.hosts.get()
    assert deployment.status == DeploymentStatus.PARTIAL
    assert row.left_out[0]["site"] == "www.linux.co.uk" and "claimed twice" in row.left_out[0]["reason"]
    assert row.left_out[0]["kept"] == ROUTES_MAP  # found by the names it served: linux.co.uk's group
    assert routes(frontend)["linux.co.uk"] == parse_map(before)["linux.co.uk"]
    assert "www.linux.co.uk" not in routes(frontend)  # not a second group for the same names
    assert "other.example" in routes(frontend)


def test_when_two_sites_claim_one_name_the_one_that_served_it_keeps_it(demo, tmp_path):
    make_local_frontend(tmp_path)
    site_services.site_create(actor=ACTOR, domain="b.example", balancer="bronze", plone_path="/plone/b")
    assert deploy().status == DeploymentStatus.SUCCEEDED
    # planted past full_clean() and the host-name table (bulk_create skips save()): b.example gets an
    # alias that is linux.co.uk's domain
    SiteAlias.objects.bulk_create([SiteAlias(site=Site.objects.get(domain="b.example"), name="linux.co.uk")])
    row = deploy().hosts.get()
    assert [p["site"] for p in row.left_out] == ["b.example"]
    entries = map_entries(whole_map(stored_files(row.tree)))
    assert entries["linux.co.uk"].split("|")[2] == "/plone/linux"  # still linux.co.uk's route
    assert parse_map(whole_map(stored_files(row.tree)))["b.example"].names == ("b.example",)  # its previous lines, kept


def test_a_bad_new_site_with_no_previous_file_is_simply_not_served(demo, tmp_path):
    frontend = make_local_frontend(tmp_path)
    bad = site_services.site_create(actor=ACTOR, domain="bad.example", balancer="bronze", plone_path="/plone/b")
    Site.objects.filter(pk=bad.pk).update(plone_path="/plone/../../etc")
    deployment = deploy()
    assert deployment.status == DeploymentStatus.PARTIAL
    assert "not served until the row is repaired" in deployment.hosts.get().left_out[0]["reason"]
    assert "bad.example" not in routes(frontend) and "bad.example" not in map_entries(whole_map_at(frontend.config_dir))
    assert "linux.co.uk" in routes(frontend)


def test_render_stays_pure_it_returns_the_problems_and_does_not_record_them(demo, tmp_path):
    frontend = make_local_frontend(tmp_path)
    Site.objects.filter(domain="linux.co.uk").update(plone_path="bad path")
    result = render_tree_isolated(load_snapshot(), frontend)
    assert [p.site for p in result.problems] == ["linux.co.uk"]
    assert "linux.co.uk" not in map_entries(whole_map(result.tree))
    assert Site.objects.get(domain="linux.co.uk").render_error == ""  # recording is the runner's job


def test_the_site_page_shows_why_the_site_was_left_out(demo, tmp_path, viewer_client):
    make_local_frontend(tmp_path)
    Site.objects.filter(domain="linux.co.uk").update(plone_path="bad path")
    deploy()
    page = viewer_client.get(reverse("sites:site_detail", args=["linux.co.uk"])).content.decode()
    assert "Not deployed: this site" in page and "plone_path" in page
