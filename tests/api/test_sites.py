"""Client sites through the API: the billing lifecycle, filters, pagination, errors, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balancers.models import Deployment, DeploymentHost
from balancers.services import frontend_create
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import Site

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def new_site(**overrides) -> dict:
    data = {
        "domain": "client-one.example.com",
        "aliases": ["www.client-one.example.com"],
        "balancer": "bronze",
        "plone_path": "/plone/clientone",
        "customer_ref": "WHMCS-42",
    }
    data.update(overrides)
    return data


def test_the_billing_lifecycle_create_read_suspend_unsuspend_delete(demo, client_for):
    billing = client_for("billing", name="whmcs")

    created = billing.post("/api/v1/sites/", new_site(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["domain"] == "client-one.example.com"
    assert body["aliases"] == ["www.client-one.example.com"]
    assert body["balancer"] == "bronze"
    assert body["status"] == "active"
    assert body["deployment"] is None  # automatic deploy is off in the tests
    assert set(body) >= {"domain", "aliases", "balancer", "plone_path", "status", "suspended_reason", "customer_ref"}
    assert set(body) >= {"created_at", "updated_at", "url", "deployment"}

    read = billing.get("/api/v1/sites/client-one.example.com/")
    assert read.status_code == 200
    assert read.json()["plone_path"] == "/plone/clientone"

    suspended = billing.post("/api/v1/sites/client-one.example.com/suspend/", {"reason": "unpaid"}, format="json")
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["suspended_reason"] == "unpaid"
    assert Site.objects.get(domain="client-one.example.com").status == "suspended"

    again = billing.post("/api/v1/sites/client-one.example.com/suspend/", {}, format="json")
    assert again.status_code == 200  # idempotent: already suspended is not an error
    assert again.json()["status"] == "suspended"

    unsuspended = billing.post("/api/v1/sites/client-one.example.com/unsuspend/")
    assert unsuspended.status_code == 200
    assert unsuspended.json()["status"] == "active"
    assert unsuspended.json()["suspended_reason"] == ""
    assert billing.post("/api/v1/sites/client-one.example.com/unsuspend/").status_code == 200

    deleted = billing.delete("/api/v1/sites/client-one.example.com/")
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": "client-one.example.com", "deployment": None}
    assert not Site.objects.filter(domain="client-one.example.com").exists()
    assert billing.get("/api/v1/sites/client-one.example.com/").status_code == 404

    entries = AuditEntry.objects.filter(object_key="client-one.example.com").order_by("id")
    actions = list(entries.values_list("actor", "source", "action"))
    assert actions == [
        ("whmcs", "api", "site.create"),
        ("whmcs", "api", "site.suspend"),
        ("whmcs", "api", "site.unsuspend"),
        ("whmcs", "api", "site.delete"),
    ]


def test_a_write_reports_the_deployment_it_triggered(demo, billing, monkeypatch, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    made = []

    def request_automatic_deployment(*, actor):
        made.append(Deployment.objects.create(actor=actor.name, trigger="automatic"))
        return made[-1]

    monkeypatch.setattr("balancers.services.deployments.request_automatic_deployment", request_automatic_deployment)
    created = billing.post("/api/v1/sites/", new_site(), format="json")
    assert created.status_code == 201
    assert created.json()["deployment"] == made[-1].pk
    deleted = billing.delete("/api/v1/sites/client-one.example.com/")
    assert deleted.json()["deployment"] == made[-1].pk
    assert len(made) == 2


def test_patch_changes_fields_and_replaces_the_aliases(demo, billing):
    response = billing.patch(
        "/api/v1/sites/linux.co.uk/",
        {"aliases": ["linux.example.org", "www.linux.example.org"], "customer_ref": "C-9", "balancer": "silver"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["aliases"] == ["linux.example.org", "www.linux.example.org"]
    site = Site.objects.get(domain="linux.co.uk")
    assert site.customer_ref == "C-9"
    assert site.balancer.name == "silver"
    assert sorted(site.aliases.values_list("name", flat=True)) == ["linux.example.org", "www.linux.example.org"]


def test_an_internationalised_domain_is_stored_and_found_as_punycode(demo, billing):
    response = billing.post("/api/v1/sites/", new_site(domain="bücher.example", aliases=[]), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["domain"] == "xn--bcher-kva.example"
    assert billing.get("/api/v1/sites/xn--bcher-kva.example/").status_code == 200
    assert billing.get("/api/v1/sites/B%C3%BCcher.example/").status_code == 200
    assert billing.get("/api/v1/sites/a%0Ab.example/").status_code == 404


def test_an_unknown_domain_is_a_json_404(demo, billing):
    for method in ("get", "patch", "delete"):
        response = getattr(billing, method)("/api/v1/sites/nope.example.com/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"
    assert billing.post("/api/v1/sites/nope.example.com/suspend/").status_code == 404


def test_an_unknown_api_url_is_a_json_404(db, billing):
    response = billing.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_malformed_json_is_a_400_with_json(demo, billing):
    response = billing.generic("POST", "/api/v1/sites/", '{"domain": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


HOSTILE = [
    ("domain", "evil.com\nProxyPass / http://attacker/"),
    ("domain", "evil .com"),
    ("domain", 'evil".com'),
    ("domain", "evil'.com"),
    ("domain", "<evil>.com"),
    ("domain", "evil%00.com"),
    ("domain", "${HOME}.com"),
    ("domain", "evil\\.com"),
    ("domain", "evil.com#"),
    ("domain", "evil.com;"),
    ("domain", "*.evil.com"),
    ("domain", "evil..com"),
    ("domain", "-evil.com"),
    ("domain", "localhost"),
    ("domain", "10.0.0.1"),
    ("domain", " evil.com"),
    ("domain", ""),
    ("aliases", ["www.evil.com\n<Directory />"]),
    ("aliases", ["bad alias.com"]),
    ("plone_path", "/plone/../etc"),
    ("plone_path", "/plone//linux"),
    ("plone_path", "plone/linux"),
    ("plone_path", "/plone/li nux"),
    ("plone_path", "/plone/linux\n"),
    ("plone_path", "/plone/$x"),
    ("plone_path", "/"),
    ("balancer", "no-such-balancer"),
    ("customer_ref", "C-1\nX-Injected: 1"),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=[f"{f}={v!r}" for f, v in HOSTILE])
def test_a_hostile_value_is_a_400_naming_the_field(demo, billing, field, value):
    response = billing.post("/api/v1/sites/", new_site(**{field: value}), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert not Site.objects.filter(plone_path="/plone/clientone").exists()


def test_a_hostile_value_in_patch_is_a_400_and_changes_nothing(demo, billing):
    response = billing.patch("/api/v1/sites/linux.co.uk/", {"plone_path": "/plone/a\nb"}, format="json")
    assert response.status_code == 400
    assert "plone_path" in response.json()["errors"]
    assert Site.objects.get(domain="linux.co.uk").plone_path == "/plone/linux"


def test_a_hostile_suspend_reason_is_a_400_on_reason(demo, billing):
    response = billing.post("/api/v1/sites/linux.co.uk/suspend/", {"reason": "x\ny"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_wrong_types_are_a_400(demo, billing):
    response = billing.post("/api/v1/sites/", new_site(aliases="www.example.com", domain=["a.com"]), format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"aliases", "domain"}


CONFLICTS = [
    ("domain", {"domain": "linux.co.uk", "aliases": []}),
    ("domain", {"domain": "www.linux.co.uk", "aliases": []}),  # an alias of another site
    ("aliases", {"aliases": ["linux.co.uk"]}),  # the domain of another site
    ("aliases", {"aliases": ["www.linux.co.uk"]}),  # an alias of another site
]


@pytest.mark.parametrize(("field", "overrides"), CONFLICTS)
def test_a_domain_or_alias_of_another_site_is_a_409(demo, billing, field, overrides):
    response = billing.post("/api/v1/sites/", new_site(**overrides), format="json")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "conflict"
    assert field in response.json()["errors"]


def test_a_conflict_together_with_bad_input_is_a_400(demo, billing):
    response = billing.post("/api/v1/sites/", new_site(domain="linux.co.uk", plone_path="/plone/../x"), format="json")
    assert response.status_code == 400
    assert {"domain", "plone_path"} <= set(response.json()["errors"])


def test_renaming_a_site_onto_another_sites_alias_is_a_409(demo, billing):
    assert billing.post("/api/v1/sites/", new_site(aliases=[]), format="json").status_code == 201
    response = billing.patch("/api/v1/sites/client-one.example.com/", {"domain": "www.linux.co.uk"}, format="json")
    assert response.status_code == 409


def _make_sites(balancer, actor, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        site_services.site_create(
            actor=actor,
            domain=f"site{i:04d}.example.net",
            aliases=[f"www.site{i:04d}.example.net"],
            balancer=balancer,
            plone_path=f"/plone/site{i:04d}",
            customer_ref=f"C{i % 7}",
        )


def test_filters_search_status_balancer_and_customer_ref(demo, actor, billing):
    _make_sites(demo, actor, 6)
    site_services.site_suspend(Site.objects.get(domain="site0003.example.net"), actor=actor, reason="x")

    def domains(query: str) -> list[str]:
        response = billing.get(f"/api/v1/sites/?{query}")
        assert response.status_code == 200, response.json()
        return [s["domain"] for s in response.json()["results"]]

    assert domains("search=site0002") == ["site0002.example.net"]
    assert domains("search=www.site0005") == ["site0005.example.net"]  # by alias
    assert domains("status=suspended") == ["site0003.example.net"]
    assert domains("balancer=silver") == []
    assert len(domains("balancer=bronze")) == 7
    assert domains("customer_ref=C4") == ["site0004.example.net"]
    bad = billing.get("/api/v1/sites/?status=deleted")
    assert bad.status_code == 400
    assert "status" in bad.json()["errors"]


def test_lists_are_paginated_with_count_next_previous(demo, actor, billing):
    _make_sites(demo, actor, 120)
    first = billing.get("/api/v1/sites/").json()
    assert first["count"] == 121
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert "page=2" in first["next"]
    last = billing.get("/api/v1/sites/?page=3").json()
    assert len(last["results"]) == 21
    assert last["next"] is None
    assert "page=2" in last["previous"]
    big = billing.get("/api/v1/sites/?page_size=100").json()
    assert len(big["results"]) == 100
    beyond = billing.get("/api/v1/sites/?page=99")
    assert beyond.status_code == 404
    assert beyond["Content-Type"] == "application/json"


def test_list_and_detail_query_counts_do_not_grow_with_the_number_of_sites(demo, actor, billing):
    _make_sites(demo, actor, 10)
    billing.get("/api/v1/sites/")  # token's last_used_at written once
    with CaptureQueriesContext(connection) as small:
        assert len(billing.get("/api/v1/sites/?page_size=500").json()["results"]) == 11
    with CaptureQueriesContext(connection) as small_detail:
        assert billing.get("/api/v1/sites/site0001.example.net/").status_code == 200
    _make_sites(demo, actor, 190, start=10)
    response = None
    with CaptureQueriesContext(connection) as large:
        response = billing.get("/api/v1/sites/?page_size=500")
    assert len(response.json()["results"]) == 201
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]
    with CaptureQueriesContext(connection) as large_detail:
        assert billing.get("/api/v1/sites/site0150.example.net/").status_code == 200
    assert len(large_detail) == len(small_detail)


def test_list_query_count_is_bounded(demo, actor, billing, django_assert_max_num_queries):
    _make_sites(demo, actor, 200)
    billing.get("/api/v1/sites/")
    with django_assert_max_num_queries(6):
        billing.get("/api/v1/sites/?page_size=500")
    with django_assert_max_num_queries(5):
        billing.get("/api/v1/sites/site0100.example.net/")


def test_a_site_says_whether_its_latest_change_is_live_and_which_deployment_carries_it(demo, billing, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # stays queued
    fe = frontend_create(actor=Actor.command("tests"), name="fe1", address="10.0.0.1", ssh_host_key=HOST_KEY)
    created = billing.post("/api/v1/sites/", new_site(), format="json").json()
    assert created["live"] is False
    assert created["pending_deployment"] == created["deployment"] is not None
    queued = Deployment.objects.get(pk=created["deployment"])
    assert billing.get("/api/v1/sites/client-one.example.com/").json()["pending_deployment"] == queued.pk

    Deployment.objects.filter(pk=queued.pk).update(status="succeeded")
    DeploymentHost.objects.create(
        deployment=queued, frontend=fe, frontend_name="fe1", status="succeeded", started_at=timezone.now()
    )
    read = billing.get("/api/v1/sites/client-one.example.com/").json()
    assert (read["live"], read["pending_deployment"]) == (True, None)
    listed = {s["domain"]: s for s in billing.get("/api/v1/sites/").json()["results"]}
    assert listed["client-one.example.com"]["live"] is True
    assert listed["linux.co.uk"]["live"] is True  # unchanged since before that deployment

    suspended = billing.post("/api/v1/sites/client-one.example.com/suspend/", {"reason": "unpaid"}, format="json")
    assert suspended.json()["live"] is False
    assert suspended.json()["pending_deployment"] == suspended.json()["deployment"] != queued.pk


@pytest.mark.parametrize("count", [1, 50])
def test_the_list_reads_liveness_in_a_constant_number_of_queries(
    demo, actor, billing, count, django_assert_max_num_queries
):
    fe = frontend_create(actor=actor, name="fe1", address="10.0.0.1", ssh_host_key=HOST_KEY)
    _make_sites(demo, actor, count - 1)  # and linux.co.uk
    deployment = Deployment.objects.create(actor="t", status="succeeded")
    DeploymentHost.objects.create(
        deployment=deployment, frontend=fe, frontend_name="fe1", status="succeeded", started_at=timezone.now()
    )
    Deployment.objects.create(actor="t", status="queued")
    billing.get("/api/v1/sites/")  # token's last_used_at written once
    with django_assert_max_num_queries(6):  # token, count, sites, aliases, front-ends, pending deployments
        results = billing.get("/api/v1/sites/?page_size=100").json()["results"]
    assert len(results) == count
    assert {s["live"] for s in results} == {True}
