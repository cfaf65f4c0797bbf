"""Every host name a site answers for (its domain and each alias) belongs to one site only, and the
database says so (sites.SiteHostname, unique on name): every door refuses a clash with a clear message,
and two requests racing for one name never both win."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from rendering.render import render_tree
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site, SiteAlias, SiteHostname


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


# --- the table itself ----------------------------------------------------------------------------


def test_the_table_holds_every_domain_and_alias_and_follows_every_change(site_a, actor):
    assert ("a.example", "a.example", True) in hostnames() and ("www.a.example", "a.example", False) in hostnames()
    site_services.site_update(site_a, actor=actor, domain="a2.example", aliases=["shop.a2.example"])
    assert [h for h in hostnames() if h[1] == "a2.example"] == [
        ("a2.example", "a2.example", True),
        ("shop.a2.example", "a2.example", False),
    ]
    site_services.site_delete(Site.objects.get(domain="a2.example"), actor=actor)
    assert [h for h in hostnames() if h[1] == "a2.example"] == []


def test_the_database_refuses_a_name_claimed_twice_whatever_the_door(site_a, demo):
    other = Site.objects.create(domain="d.example", balancer=demo, plone_path="/plone/d")
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteAlias.objects.create(site=other, name="a.example")  # a.example is site_a's domain
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.create(domain="www.a.example", balancer=demo, plone_path="/plone/w")  # site_a's alias
    with pytest.raises(IntegrityError), transaction.atomic():
        other.domain = "www.a.example"
        other.save()


def test_the_data_migration_fills_the_table_from_existing_sites_and_drops_an_unservable_alias(site_a, demo, capsys):
    planted = Site.objects.create(domain="e.example", balancer=demo, plone_path="/plone/e")
    SiteHostname.objects.all().delete()
    SiteAlias.objects.bulk_create([SiteAlias(site=planted, name="a.example")])  # the bug's row: another's domain
    migration = importlib.import_module("sites.migrations.0003_sitehostname")
    migration.fill_hostnames(apps, connection.schema_editor())
    assert ("a.example", "a.example", True) in hostnames()
    assert ("www.a.example", "a.example", False) in hostnames()
    assert ("e.example", "e.example", True) in hostnames()
    assert not SiteAlias.objects.filter(site=planted).exists()
    assert "a.example" in capsys.readouterr().out
    assert renders()


# --- the other doors -----------------------------------------------------------------------------


def test_the_web_form_shows_a_clash_on_the_aliases_field(site_a, operator_client):
    response = operator_client.post(
        reverse("sites:site_create"),
        {"domain": "f.example", "aliases": "www.a.example", "balancer": "bronze", "plone_path": "/plone/f"},
    )
    assert response.status_code == 200
    assert "already an alias of another site" in response.content.decode()
    assert not Site.objects.filter(domain="f.example").exists()


def test_the_csv_import_refuses_a_name_claimed_by_another_row_or_site(site_a, actor):
    result = site_services.site_import(
        [
            {"domain": "g.example", "aliases": "www.a.example", "balancer": "bronze", "plone_path": "/plone/g"},
            {"domain": "h.example", "aliases": "", "balancer": "bronze", "plone_path": "/plone/h"},
            {"domain": "i.example", "aliases": "h.example", "balancer": "bronze", "plone_path": "/plone/i"},
        ],
        actor=actor,
    )
    assert not result.imported
    assert [bool(r.errors) for r in result.rows] == [True, False, True]
    assert "already an alias of another site" in " ".join(result.rows[0].errors["aliases"])
    assert "already the domain of another site" in " ".join(result.rows[2].errors["aliases"])
    assert not Site.objects.filter(domain__in=["g.example", "h.example", "i.example"]).exists()


def test_the_admin_shows_a_clash_as_a_form_error_not_a_500(site_a, admin_client, demo):
    response = admin_client.post(
        "/admin/sites/site/add/",
        {"domain": "j.example", "balancer": demo.pk, "plone_path": "/plone/j", "aliases_text": "a.example"},
    )
    assert response.status_code == 200
    assert "already the domain of another site" in response.content.decode()
    response = admin_client.post(
        f"/admin/sites/site/{site_a.pk}/change/",
        {"domain": "www.a.example", "balancer": demo.pk, "plone_path": "/plone/a", "aliases_text": "www.a.example"},
    )
    assert response.status_code == 200
    assert "must differ from the site" in response.content.decode()
    assert Site.objects.get(pk=site_a.pk).domain == "a.example"
