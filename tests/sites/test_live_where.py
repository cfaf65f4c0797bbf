"""The site page answers "is this site live, and where?": per enabled front-end the state (serving this
release, pending, left out, not proven, a rollback since, unreachable), the release it serves, and the last
deployment that carried a change of the site (a link whose status updates while it runs)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStatus
from balancers.models import ActivatedRelease, Deployment, DeploymentCause, FrontEnd
from deploy.runner import deployment_execute
from hostpanel.audit import Actor
from sites import services as site_services
from sites.models import Site
from sites.selectors import deploy_state, site_last_deployment, site_placement
from tests.factories import make_local_frontend
from tests.sites.test_selectors import deployed, frontend

SECOND = datetime.timedelta(seconds=1)
BILLING = Actor(name="billing-token", source="api")


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


def states(site: Site, reachability=None) -> dict[str, str]:
    return {row["frontend"]: row["state"] for row in site_placement(site, deploy_state(), reachability)}


def test_each_front_end_says_whether_it_serves_the_sites_latest_change(site):
    fe1, fe2 = frontend("fe1"), frontend("fe2")
    first = deployed([fe1, fe2], at=site.updated_at - SECOND)  # before the change
    deployed([fe1], at=site.updated_at + SECOND)
    ActivatedRelease.objects.create(frontend=fe2, digest="d" * 64, deployment=first)
    rows = {row["frontend"]: row for row in site_placement(site, deploy_state())}
    assert rows["fe1"]["state"] == "serving" and rows["fe1"]["label"] == "serving this release"
    assert rows["fe2"]["state"] == "pending"
    assert "no deployment queued" in rows["fe2"]["detail"]
    assert rows["fe2"]["serving_deployment"] == first.pk


def test_a_pending_front_end_names_the_deployment_that_carries_the_change(site):
    fe1 = frontend("fe1")
    queued = Deployment.objects.create(actor="t", status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC)
    row = site_placement(site, deploy_state())[0]
    assert (row["frontend"], row["state"]) == (fe1.name, "pending")
    assert f"waits for deployment #{queued.pk}" == row["detail"]


def test_left_out_unproven_rolled_back_and_unreachable_front_ends_say_why(site):
    fe1, fe2, fe3 = frontend("fe1"), frontend("fe2"), frontend("fe3")
    deployed([fe1, fe2, fe3], at=site.updated_at + SECOND)
    deployed([fe2], at=site.updated_at + 2 * SECOND, trigger=DeploymentTrigger.ROLLBACK)
    FrontEnd.objects.filter(pk=fe3.pk).update(apache_facts={"release_proof": "the default vhost answers first"})
    reach = {"fe1": ("refused", "connection refused")}
    assert states(site, reach) == {"fe1": "unreachable", "fe2": "rolled_back", "fe3": "unproven"}
    unreachable = site_placement(site, deploy_state(), reach)[0]
    assert "connection refused" in unreachable["detail"] and "last known: serving this release" in unreachable["detail"]
    Site.objects.filter(pk=site.pk).update(render_error="refusing to render: unsafe character '*'")
    site.refresh_from_db()
    assert set(states(site).values()) == {"left_out"}


def test_the_last_deployment_of_a_site_is_the_one_its_newest_change_asked_for(demo, tmp_path, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    make_local_frontend(tmp_path)
    site = site_services.site_create(actor=BILLING, domain="x.example", balancer="bronze", plone_path="/plone/x")
    assert site_last_deployment(site) == site.deployment
    cause = DeploymentCause.objects.get(deployment=site.deployment, object_key="x.example")
    assert cause.text == "site x.example created" and cause.actor == "billing-token" and cause.source == "api"
    suspended = site_services.site_suspend(site, actor=BILLING, reason="unpaid")
    assert site_last_deployment(suspended).pk == suspended.deployment.pk


def test_the_site_page_shows_live_and_where_and_the_deployment_as_a_link(demo, tmp_path, settings, operator_client):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    make_local_frontend(tmp_path, "local1")  # one: several deploy in threads, which a `db` test cannot share
    site = site_services.site_create(actor=BILLING, domain="x.example", balancer="bronze", plone_path="/plone/x")
    deployment = deployment_execute(site.deployment.pk)  # what the worker does
    assert deployment.status == DeploymentStatus.SUCCEEDED
    html = operator_client.get("/sites/x.example/").content.decode()
    assert 'data-live="yes"' in html and "live on every front-end" in html
    assert html.count('data-state="serving"') == 1 and 'data-frontend="local1"' in html
    assert f'href="/deployments/{deployment.pk}/"' in html and 'data-status="succeeded"' in html
    card = html.split('id="site-live"', 1)[1].split("</section>", 1)[0]
    expected = "none (HTTP only)" if Site.objects.get(pk=site.pk).tls == "none" else "no certificate yet"
    assert "HTTPS:" in card and expected in card
    partial = operator_client.get("/sites/x.example/live/").content.decode()
    assert partial.lstrip().startswith("<section") and 'data-finished="true"' in partial


def test_a_site_whose_change_waits_polls_until_the_deployment_finishes(
    demo, tmp_path, settings, operator_client, monkeypatch
):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    make_local_frontend(tmp_path, "local1")
    monkeypatch.setattr("balancers.services.deployments.deployment_enqueue", lambda pk: False)  # no worker runs it
    site = site_services.site_create(actor=BILLING, domain="y.example", balancer="bronze", plone_path="/plone/y")
    partial = operator_client.get("/sites/y.example/live/").content.decode()
    assert 'data-finished="false"' in partial and 'data-state="pending"' in partial
    assert f"waits for deployment #{site.deployment.pk}" in partial
    assert deployment_execute(site.deployment.pk).status == DeploymentStatus.SUCCEEDED
    partial = operator_client.get("/sites/y.example/live/").content.decode()
    assert 'data-finished="true"' in partial and 'data-state="serving"' in partial


def test_the_site_page_makes_the_same_queries_with_one_or_ten_front_ends(site, operator_client):
    def page_queries() -> int:
        operator_client.get(site.get_absolute_url())  # warm the session
        with CaptureQueriesContext(connection) as queries:
            assert operator_client.get(site.get_absolute_url()).status_code == 200
        return len(queries.captured_queries)

    deployed([frontend("fe0")], at=site.updated_at + SECOND)
    one = page_queries()
    fleet = [frontend(f"fe{i}") for i in range(1, 10)]
    deployed(fleet, at=site.updated_at + SECOND, status=HostStatus.UNCHANGED)
    assert page_queries() <= one
