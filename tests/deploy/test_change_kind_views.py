"""A map-only change shows as such everywhere a change is shown: the deploy preview, `manage.py deploy
--dry-run`, the deployment page (its diff and each host's row) and the API."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_token_create
from balancers import services as balancer_services
from balancers.models import Balancer
from balancers.services import deployment_start
from deploy.runner import deployment_execute
from hostpanel.audit import Actor
from rendering.manifest import diff_paths, tree_diff
from rendering.routes import change_kind
from sites import services as site_services
from tests.factories import make_local_frontend, reloads

pytestmark = pytest.mark.django_db


def test_change_kind_reads_the_paths_of_a_tree_diff():
    old = {"routes.map": "a live\n", "balancers.conf": "x\n", "MANIFEST": "1"}
    assert change_kind(diff_paths(tree_diff(old, {**old, "routes.map": "b\n", "MANIFEST": "2"}))) == "map"
    assert change_kind(diff_paths(tree_diff(old, {**old, "balancers.conf": "y\n", "MANIFEST": "2"}))) == "config"
    both = {**old, "routes.map": "b\n", "balancers.conf": "y\n"}
    assert change_kind(diff_paths(tree_diff(old, both))) == "config"
    assert change_kind(diff_paths(tree_diff(old, {**old, "sites/a.conf": "new\n"}))) == "config"
    assert change_kind(diff_paths(tree_diff(old, old))) == ""


@override_settings(HOSTPANEL_PROBES=False)
def test_a_new_site_is_shown_as_map_only_and_a_new_balancer_as_config(demo, tmp_path, actor, admin_client):
    make_local_frontend(tmp_path)
    first = deployment_execute(deployment_start(actor=actor, enqueue=False).pk)
    assert first.status == "succeeded"
    reloaded = reloads(tmp_path)

    site_services.site_create(
        actor=actor, domain="map-only.example", balancer=Balancer.objects.first(), plone_path="/p"
    )
    out = StringIO()
    call_command("deploy", "--dry-run", stdout=out)
    assert "would change (routing map only: no configtest, no reload)" in out.getvalue()
    assert "+map-only.example live|" in out.getvalue()
    page = admin_client.get(reverse("balancers:deploy_now")).content.decode()
    assert 'data-kind="map"' in page and "+map-only.example live|" in page

    deployment = deployment_execute(deployment_start(actor=actor, enqueue=False).pk)
    assert deployment.status == "succeeded"
    assert reloads(tmp_path) == reloaded  # no reload for a map-only change
    page = admin_client.get(reverse("balancers:deployment_detail", args=[deployment.pk])).content.decode()
    assert 'data-kind="map"' in page and "map only, no reload" in page
    assert "+map-only.example live|" in page
    client = APIClient()
    _token, key = api_token_create(actor=Actor.command("tests"), name="reader", scope="read")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    api = client.get(f"/api/v1/deployments/{deployment.pk}/")
    assert api.status_code == 200, api.content
    assert {h["change_kind"] for h in api.json()["hosts"]} == {"map"}

    balancer_services.balancer_create(actor=actor, name="gold")
    out = StringIO()
    call_command("deploy", "--dry-run", stdout=out)
    assert "would change (config: configtest + graceful reload)" in out.getvalue()
    deployment = deployment_execute(deployment_start(actor=actor, enqueue=False).pk)
    assert reloads(tmp_path) == reloaded + 1
    page = admin_client.get(reverse("balancers:deployment_detail", args=[deployment.pk])).content.decode()
    assert 'data-kind="config"' in page and "config + reload" in page
