"""Every page of the staff panel: who may see it, who may change, CSRF, and constant query counts."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from balancers.models import Balancer, BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from hostpanel.models import AuditEntry
from sites.models import Site, SiteAlias


@pytest.fixture
def world(demo):
    site = Site.objects.get(domain="linux.co.uk")
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    frontend = FrontEnd.objects.create(name="fe1", address="127.0.0.1", transport="local")
    deployment = Deployment.objects.create(actor="tester", status="succeeded")
    DeploymentHost.objects.create(deployment=deployment, frontend=frontend, frontend_name="fe1", status="succeeded")
    return {
        "balancer": demo,
        "site": site,
        "member": member,
        "server": ZopeServer.objects.get(name="zope1"),
        "frontend": frontend,
        "deployment": deployment,
    }


def read_urls(w) -> list[str]:
    b, s, z, f, d = (w[k] for k in ("balancer", "site", "server", "frontend", "deployment"))
    return [
        "/",
        reverse("audit_list"),
        reverse("sites:site_list"),
        reverse("sites:site_detail", args=[s.domain]),
        reverse("balancers:balancer_list"),
        reverse("balancers:balancer_detail", args=[b.pk]),
        reverse("balancers:zopeserver_list"),
        reverse("balancers:zopeserver_detail", args=[z.pk]),
        reverse("balancers:frontend_list"),
        reverse("balancers:frontend_detail", args=[f.pk]),
        reverse("balancers:deployment_list"),
        reverse("balancers:deployment_detail", args=[d.pk]),
        reverse("balancers:deployment_progress", args=[d.pk]),
    ]


def change_urls(w) -> list[str]:
    """Pages that exist to change something: GET shows a form or confirmation, POST acts."""
    b, s, m, z, f, d = (w[k] for k in ("balancer", "site", "member", "server", "frontend", "deployment"))
    return [
        reverse("sites:site_create"),
        reverse("sites:site_import"),
        reverse("sites:site_update", args=[s.domain]),
        reverse("sites:site_suspend", args=[s.domain]),
        reverse("sites:site_unsuspend", args=[s.domain]),
        reverse("sites:site_delete", args=[s.domain]),
        reverse("balancers:balancer_create"),
        reverse("balancers:balancer_update", args=[b.pk]),
        reverse("balancers:balancer_delete", args=[b.pk]),
        reverse("balancers:member_create", args=[b.pk]),
        reverse("balancers:member_update", args=[b.pk, m.pk]),
        reverse("balancers:member_delete", args=[b.pk, m.pk]),
        *[reverse("balancers:member_toggle", args=[b.pk, m.pk, st]) for st in ("hot_standby", "drain", "disabled")],
        reverse("balancers:member_toggle", args=[b.pk, m.pk, "active"]),
        reverse("balancers:zopeserver_create"),
        reverse("balancers:zopeserver_update", args=[z.pk]),
        reverse("balancers:zopeserver_delete", args=[z.pk]),
        reverse("balancers:frontend_create"),
        reverse("balancers:frontend_update", args=[f.pk]),
        reverse("balancers:frontend_delete", args=[f.pk]),
        reverse("balancers:deploy_now"),
        reverse("balancers:deployment_rollback", args=[d.pk]),
    ]


POST_ONLY = ["balancers:frontend_test"]


def test_every_page_redirects_an_anonymous_visitor_to_the_login_page(client, world):
    for url in (
        read_urls(world) + change_urls(world) + [reverse("balancers:frontend_test", args=[world["frontend"].pk])]
    ):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (method, url)
            assert response["Location"].startswith(reverse("login") + "?next="), url


def test_every_page_renders_for_an_operator(operator_client, world):
    for url in read_urls(world) + change_urls(world):
        assert operator_client.get(url).status_code == 200, url


def test_a_viewer_can_read_every_page_but_sees_no_change_button(viewer_client, world):
    change_paths = set(change_urls(world))
    for url in read_urls(world):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        links = set(re.findall(r'href="([^"?#]+)', body))
        assert not links & change_paths, (url, links & change_paths)
        forms = re.findall(r'<form method="post" action="([^"]+)"', body)
        assert forms == [reverse("logout")] or not forms, (url, forms)


def test_a_viewer_gets_403_for_every_change_page_and_every_post(viewer_client, world):
    urls = change_urls(world) + read_urls(world) + [reverse("balancers:frontend_test", args=[world["frontend"].pk])]
    before = AuditEntry.objects.count()
    for url in urls:
        assert viewer_client.post(url, {"reason": "x", "domain": "x.example.com"}).status_code == 403, url
    for url in change_urls(world):
        assert viewer_client.get(url).status_code == 403, url
    assert AuditEntry.objects.count() == before
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_an_operator_sees_the_change_buttons(operator_client, world):
    body = operator_client.get(reverse("sites:site_detail", args=["linux.co.uk"])).content.decode()
    for name in ("site_update", "site_suspend", "site_delete"):
        assert reverse(f"sites:{name}", args=["linux.co.uk"]) in body
    body = operator_client.get(world["balancer"].get_absolute_url()).content.decode()
    member = world["member"]
    assert reverse("balancers:member_toggle", args=[member.balancer_id, member.pk, "hot_standby"]) in body


def test_csrf_is_enforced_on_the_panel_forms(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    url = reverse("balancers:zopeserver_create")
    data = {"name": "zope9", "host": "10.0.0.9", "port": "8080", "description": ""}
    assert client.post(url, data).status_code == 403
    assert not ZopeServer.objects.filter(name="zope9").exists()
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(url, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert ZopeServer.objects.filter(name="zope9").exists()


def test_the_login_form_is_csrf_protected_too(operator):
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("login"), {"username": "olga", "password": "pw-olga"}).status_code == 403


# --- query counts ----------------------------------------------------------------------------


def make_sites(balancer: Balancer, count: int, prefix: str = "client") -> None:
    sites = Site.objects.bulk_create(
        Site(domain=f"{prefix}{i:05d}.example.com", balancer=balancer, plone_path=f"/plone/c{i}", customer_ref=f"C{i}")
        for i in range(count)
    )
    SiteAlias.objects.bulk_create(SiteAlias(site=s, name="www." + s.domain) for s in sites)


def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url_name",
    ["sites:site_list", "sites:site_list?q=client0", "sites:site_list?sort=-balancer&status=active&page=2"],
)
def test_the_sites_list_needs_as_many_queries_for_1000_sites_as_for_10(
    operator_client, demo, url_name, django_assert_max_num_queries
):
    name, _, query = url_name.partition("?")
    url = reverse(name) + ("?" + query if query else "")
    make_sites(demo, 10)
    small = count_queries(operator_client, url)
    make_sites_more = [Site(domain=f"more{i:05d}.example.org", balancer=demo, plone_path="/p") for i in range(990)]
    Site.objects.bulk_create(make_sites_more)
    with django_assert_max_num_queries(small):
        response = operator_client.get(url)
    assert response.status_code == 200
    assert small <= 12


def test_the_balancer_detail_needs_as_many_queries_for_1000_sites_and_many_members(
    operator_client, demo, django_assert_max_num_queries
):
    url = demo.get_absolute_url()
    make_sites(demo, 10)
    small = count_queries(operator_client, url)
    make_sites(demo, 500, prefix="more")
    make_sites(Balancer.objects.get(name="silver"), 500, prefix="other")
    for i in range(20):
        server = ZopeServer.objects.create(name=f"extra{i}", host="127.0.0.1", port=20000 + i)
        BalancerMember.objects.create(balancer=demo, zope_server=server)
    with django_assert_max_num_queries(small):
        response = operator_client.get(url)
    assert response.content.decode().count('id="member-') == 23
