"""Host names through the API: a PATCH with or without `aliases` never lets a site claim a name twice
(a reproduced defect), a clash is a 400/409 with the field named, and two creates racing
for one name on PostgreSQL end with one site and one clean 409, never a 500 and never two rows."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rendering.render import render_tree
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site, SiteHostname


@pytest.fixture
def site_a(demo, actor) -> Site:
    return site_services.site_create(
        actor=actor, domain="a.example", aliases=["www.a.example"], balancer=demo, plone_path="/plone/a"
    )


def hostnames() -> list[tuple[str, str, bool]]:
    return sorted(SiteHostname.objects.values_list("name", "site__domain", "is_primary"))


def renders() -> bool:
    render_tree(load_snapshot(), FrontEndRecord(name="fe1"))
    return True


# --- the reproduced defect: PATCH without aliases -------------------------------------------------


def test_patching_the_domain_to_the_sites_own_alias_is_refused_and_the_tree_still_renders(site_a, billing):
    response = billing.patch("/api/v1/sites/a.example/", {"domain": "www.a.example"}, format="json")
    assert response.status_code == 400, response.json()
    assert "www.a.example is already an alias of this site" in " ".join(response.json()["errors"]["domain"])
    assert Site.objects.get(pk=site_a.pk).domain == "a.example"
    assert renders()


def test_patching_the_domain_to_another_sites_alias_is_a_conflict(site_a, billing, demo, actor):
    site_services.site_create(actor=actor, domain="b.example", balancer=demo, plone_path="/plone/b")
    response = billing.patch("/api/v1/sites/b.example/", {"domain": "www.a.example"}, format="json")
    assert response.status_code == 409, response.json()
    assert "already an alias of another site" in " ".join(response.json()["errors"]["domain"])
    assert renders()


def test_swapping_domain_and_alias_in_one_patch_works(site_a, billing):
    response = billing.patch(
        "/api/v1/sites/a.example/", {"domain": "www.a.example", "aliases": ["a.example"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert hostnames() == [
        ("a.example", "www.a.example", False),
        ("linux.co.uk", "linux.co.uk", True),
        ("www.a.example", "www.a.example", True),
        ("www.linux.co.uk", "linux.co.uk", False),
    ]
    assert renders()


def test_an_alias_equal_to_the_new_domain_in_the_same_patch_is_refused(site_a, billing):
    response = billing.patch(
        "/api/v1/sites/a.example/", {"domain": "www.a.example", "aliases": ["www.a.example"]}, format="json"
    )
    assert response.status_code == 400
    assert "must differ from the site's own domain" in " ".join(response.json()["errors"]["aliases"])


def test_creating_a_site_whose_alias_is_another_sites_domain_is_a_conflict(site_a, billing):
    response = billing.post(
        "/api/v1/sites/",
        {"domain": "c.example", "aliases": ["a.example"], "balancer": "bronze", "plone_path": "/plone/c"},
        format="json",
    )
    assert response.status_code == 409
    assert "already the domain of another site" in " ".join(response.json()["errors"]["aliases"])


# --- concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.real
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "second",
    [
        {"domain": "race.example", "aliases": []},  # the same domain twice
        {"domain": "other.example", "aliases": ["race.example"]},  # one's domain is the other's alias
    ],
    ids=["domain-domain", "domain-alias"],
)
def test_two_simultaneous_creates_of_one_host_name_one_wins_the_other_gets_a_clean_conflict(
    second, demo, client_for, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    first_client, second_client = client_for("billing", name="one"), client_for("billing", name="two")
    first_written, second_checked = threading.Event(), threading.Event()
    real_site_check = site_services.site_check
    real_config_changed = site_services.config_changed

    def site_check(site, *, aliases):
        if threading.current_thread().name != "second":
            return real_site_check(site, aliases=aliases)
        first_written.wait(10)  # the first request's rows are written, not yet committed
        try:
            return real_site_check(site, aliases=aliases)
        finally:
            second_checked.set()  # the application's checks passed: only the database can stop it now

    def config_changed(*, actor, cause=None):
        if threading.current_thread().name == "first":
            first_written.set()
            second_checked.wait(10)  # hold the first transaction open until the second has checked
        return real_config_changed(actor=actor, cause=cause)

    monkeypatch.setattr(site_services, "site_check", site_check)
    monkeypatch.setattr(site_services, "config_changed", config_changed)
    responses: dict[str, object] = {}

    def create(name, client, body):
        try:
            body = {"balancer": "bronze", "plone_path": f"/plone/{name}", **body}
            responses[name] = client.post("/api/v1/sites/", body, format="json")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=create, name="first", args=("first", first_client, {"domain": "race.example"})),
        threading.Thread(target=create, name="second", args=("second", second_client, second)),
    ]
    threads[0].start()
    threads[1].start()
    for thread in threads:
        thread.join(30)
    assert first_written.is_set() and second_checked.is_set()
    assert responses["first"].status_code == 201, responses["first"].json()
    assert responses["second"].status_code == 409, responses["second"].json()
    body = responses["second"].json()
    assert body["code"] == "conflict" and "race.example was just taken" in str(body["errors"])  # by the database
    assert SiteHostname.objects.filter(name="race.example").count() == 1
    assert Site.objects.filter(domain__in=["race.example", "other.example"]).count() == 1
    assert renders()
