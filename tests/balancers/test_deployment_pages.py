"""The deployment list and page say WHY a deployment ran (the changes that asked for it, stored as
DeploymentCause rows by the services) and WHAT it changed (sites added, changed, suspended, removed and
certificates, read from the trees), hide the digest files from diffs, and "Deployment #n (status)" in a
flash message is a link that keeps its status up to date."""

from __future__ import annotations

from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from balancers.choices import DeploymentStatus
from balancers.models import Deployment, DeploymentCause
from balancers.selectors.deployments import hide_hash_files, summarise_change
from deploy.runner import deployment_execute
from hostpanel.audit import Actor
from rendering.manifest import MANIFEST
from rendering.routes import RELEASE_FILE
from sites import services as site_services
from sites.models import Site
from tests.factories import make_local_frontend

BILLING = Actor(name="billing-token", source="api")


def group(domain: str, state: str = "live", path: str = "/plone/x") -> str:
    return f"# site {domain}\n{domain} {state}|bronze|{path}|s|__ac_route|1200\n"


def test_the_summary_names_sites_added_changed_suspended_removed_and_certificates():
    old = {
        "routes.map": group("a.example") + group("b.example") + group("c.example"),
        "tls/a.example.crt": "A1",
        "tls/c.example.crt": "C1",
        "balancers.conf": "x",
        MANIFEST: "digests 1",
    }
    new = {
        "routes.map": group("a.example", path="/plone/moved")
        + group("b.example", state="suspended")
        + group("d.example"),
        "tls/a.example.crt": "A2",
        "tls/d.example.crt": "D1",
        "balancers.conf": "y",
        MANIFEST: "digests 2",
    }
    summary = summarise_change(old, new)
    assert summary["sites_added"] == ["d.example"]
    assert summary["sites_changed"] == ["a.example"]
    assert summary["sites_suspended"] == ["b.example"]
    assert summary["sites_removed"] == ["c.example"]
    assert summary["certificates_added"] == ["d.example"]
    assert summary["certificates_changed"] == ["a.example"]
    assert summary["certificates_removed"] == ["c.example"]
    assert summary["other_files"] == ["balancers.conf"]  # MANIFEST is not a change anybody made


def test_digest_files_are_left_out_of_a_diff():
    lines = [
        "--- a/balancers.conf",
        "+++ b/balancers.conf",
        "-old",
        "+new",
        f"--- a/{RELEASE_FILE}",
        f"+++ b/{RELEASE_FILE}",
        "-release 1",
        "+release 2",
        f"--- a/{MANIFEST}",
        f"+++ b/{MANIFEST}",
        "-abc  balancers.conf",
        "+def  balancers.conf",
    ]
    assert hide_hash_files(lines) == lines[:4]


def test_a_deployment_says_why_and_what_and_hides_the_manifest(demo, tmp_path, settings, operator_client):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    make_local_frontend(tmp_path)
    first = site_services.site_create(actor=BILLING, domain="x.example", balancer="bronze", plone_path="/plone/x")
    deployment_execute(first.deployment.pk)
    site = site_services.site_suspend(Site.objects.get(domain="x.example"), actor=BILLING, reason="unpaid")
    created = site_services.site_create(actor=BILLING, domain="y.example", balancer="bronze", plone_path="/plone/y")
    assert created.deployment.pk == site.deployment.pk  # coalesced: one deployment, two causes
    assert deployment_execute(site.deployment.pk).status == DeploymentStatus.SUCCEEDED
    html = operator_client.get(f"/deployments/{site.deployment.pk}/").content.decode()
    assert "site x.example suspended" in html and "site y.example created" in html and "by billing-token" in html
    assert 'data-what="sites_added"' in html and "y.example" in html
    assert 'data-what="sites_suspended"' in html
    assert "MANIFEST" not in html.split("Changes against the previous revision")[1].split("are not shown")[1]
    assert "file" in html.split('class="num uploaded"')[1][:80]  # "3 files, 1.2 KB", not "0 / 0"


def test_the_list_says_why_each_deployment_ran_in_a_constant_number_of_queries(
    demo, settings, operator_client, django_assert_max_num_queries
):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    site_services.site_create(actor=BILLING, domain="x.example", balancer="bronze", plone_path="/plone/x")
    operator_client.get("/deployments/")
    with CaptureQueriesContext(connection) as one:
        html = operator_client.get("/deployments/").content.decode()
    assert "site x.example created by billing-token" in html
    for i in range(20):  # twenty more deployments, each with three causes
        deployment = Deployment.objects.create(actor="t", status=DeploymentStatus.SUCCEEDED)
        for n in range(3):
            DeploymentCause.objects.create(
                deployment=deployment, action="site.update", object_key=f"s{i}-{n}.example", actor="olga"
            )
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = operator_client.get("/deployments/").content.decode()
    assert "site s19-0.example changed by olga (and 2 more changes)" in html


def test_a_deployment_note_in_a_flash_message_becomes_a_link_that_polls_its_badge(demo, operator_client):
    deployment = Deployment.objects.create(actor="t", status=DeploymentStatus.QUEUED)
    text = Template("{% load panel %}{{ m|deployment_links }}").render(
        Context({"m": f"Site <b>x</b> saved. Deployment #{deployment.pk} (queued) carries the change."})
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in text  # the rest of the message stays escaped
    assert f'href="/deployments/{deployment.pk}/"' in text and 'data-finished="false"' in text
    assert f'data-poll-url="/deployments/{deployment.pk}/badge/"' in text
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.SUCCEEDED)
    badge = operator_client.get(f"/deployments/{deployment.pk}/badge/").content.decode()
    assert 'data-status="succeeded"' in badge and 'data-finished="true"' in badge


def test_the_detail_header_is_part_of_the_polled_partial(demo, operator_client):
    deployment = Deployment.objects.create(actor="t", status=DeploymentStatus.RUNNING)
    partial = operator_client.get(f"/deployments/{deployment.pk}/progress/").content.decode()
    assert 'data-status="running"' in partial and "started" in partial and 'data-finished="false"' in partial


def test_a_deployment_carrying_many_changes_lists_fifty_and_counts_the_rest(demo, operator_client):
    deployment = Deployment.objects.create(actor="t", status=DeploymentStatus.SUCCEEDED)
    DeploymentCause.objects.bulk_create(
        DeploymentCause(deployment=deployment, action="site.create", object_key=f"s{i:03}.example", actor="csv")
        for i in range(120)
    )
    html = operator_client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "site s049.example created" in html and "s050.example" not in html
    assert "… and 70 more changes." in html
