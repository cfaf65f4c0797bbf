"""Site kinds through the staff doors: the site form (kind, Zope balancer, frontend balancer, Classic UI
path), the site page, and the CSV import's optional kind columns with row-level errors."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from hostpanel.audit import Actor
from sites import services
from sites.choices import SiteKind
from sites.models import Site
from tests.factories import add_frontend_pool

ACTOR = Actor.command("tests")
SITE = {"domain": "volto.example", "balancer": "bronze", "plone_path": "/Plone", "aliases": "", "tls": "none"}
HEADER = "domain,aliases,balancer,plone_path,customer_ref,kind,frontend_balancer,classic_ui_path\n"


@pytest.fixture
def frontend_pool(demo):
    return add_frontend_pool(servers=1)


@pytest.fixture
def volto_site(frontend_pool, demo):
    return services.site_create(
        actor=ACTOR,
        domain="volto.example",
        balancer=demo,
        plone_path="/Plone",
        kind="volto",
        frontend_balancer="volto-acme",
    )


def post_site(client, **fields):
    return client.post(reverse("sites:site_create"), {**SITE, **fields})


def test_an_operator_adds_a_volto_site_with_a_classic_ui_path(operator_client, frontend_pool):
    response = post_site(operator_client, kind="volto", frontend_balancer="volto-acme", classic_ui_path="/ClassicUI")
    assert response.status_code == 302, response.content.decode()[-2000:]
    site = Site.objects.get(domain="volto.example")
    assert (site.kind, site.balancer.name, site.frontend_balancer.name) == ("volto", "bronze", "volto-acme")
    assert site.classic_ui_path == "/ClassicUI"
    page = operator_client.get(site.get_absolute_url()).content.decode()
    assert 'data-kind="volto"' in page and "Zope balancer" in page and "volto-acme" in page
    assert "<code>/ClassicUI</code> (staff networks only)" in page


def test_the_form_offers_only_node_balancers_as_frontend_and_zope_balancers_as_balancer(operator_client, frontend_pool):
    form = operator_client.get(reverse("sites:site_create")).content.decode()
    frontend_select = form.split('name="frontend_balancer"')[1].split("</select>")[0]
    balancer_select = form.split('name="balancer"')[1].split("</select>")[0]
    assert "volto-acme" in frontend_select and "bronze" not in frontend_select
    assert "bronze" in balancer_select and "volto-acme" not in balancer_select


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "volto"}, "A Volto site needs a Node.js frontend balancer."),
        ({"kind": "frontend_only"}, "A Frontend only site needs a Node.js frontend balancer."),
        ({"kind": "classic", "frontend_balancer": "volto-acme"}, "A Classic UI site has no frontend balancer"),
        ({"kind": "classic", "classic_ui_path": "/ClassicUI"}, "Only a Volto site keeps a Classic UI path."),
        (
            {"kind": "frontend_only", "frontend_balancer": "volto-acme", "classic_ui_path": "/ClassicUI"},
            "Only a Volto site keeps a Classic UI path.",
        ),
        ({"kind": "volto", "frontend_balancer": "bronze"}, "Choose a balancer of Node.js frontend servers."),
        ({"kind": "volto", "balancer": "volto-acme", "frontend_balancer": "volto-acme"}, "Choose a balancer of Zope"),
        (
            {"kind": "volto", "frontend_balancer": "volto-acme", "classic_ui_path": "/static"},
            "/static is a path of the Volto frontend itself",
        ),
        ({"kind": "php"}, "Select a valid choice. php is not one of the available choices."),
    ],
)
def test_a_bad_kind_combination_is_a_clear_error_on_the_form(operator_client, frontend_pool, fields, message):
    response = post_site(operator_client, **fields)
    assert response.status_code == 200
    assert html.escape(message) in response.content.decode()
    assert not Site.objects.filter(domain="volto.example").exists()


def test_a_post_without_a_kind_keeps_a_volto_sites_kind_fields(operator_client, volto_site):
    site = volto_site
    data = {**SITE, "plone_path": "/Plone2", "customer_ref": "C-9"}
    response = operator_client.post(reverse("sites:site_update", args=[site.domain]), data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    site.refresh_from_db()
    assert (site.kind, site.frontend_balancer.name, site.plone_path) == ("volto", "volto-acme", "/Plone2")


def test_the_edit_form_switches_a_volto_site_back_to_classic(operator_client, volto_site):
    site = volto_site
    form = operator_client.get(reverse("sites:site_update", args=[site.domain])).content.decode()
    assert '<option value="volto-acme" selected>' in form
    response = operator_client.post(reverse("sites:site_update", args=[site.domain]), {**SITE, "kind": "classic"})
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.kind, site.frontend_balancer) == (SiteKind.CLASSIC, None)


# --- CSV import -----------------------------------------------------------------------------------


def test_the_csv_import_creates_volto_and_frontend_only_sites(operator_client, frontend_pool):
    csv_text = HEADER + (
        "v.example,,bronze,/Plone,C1,volto,volto-acme,/ClassicUI\n"
        "f.example,,bronze,/Plone,C2,frontend-only,volto-acme,\n"
        "implied.example,,bronze,/Plone,C3,,volto-acme,\n"
        "c.example,,bronze,/Plone,C4,,,\n"
    )
    preview = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "preview"})
    assert (
        "+ frontend volto-acme" in preview.content.decode()
        and "(volto, Classic UI /ClassicUI)" in preview.content.decode()
    )
    response = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "import"})
    assert response.status_code == 302
    kinds = dict(Site.objects.filter(domain__endswith=".example").values_list("domain", "kind"))
    assert kinds == {
        "v.example": "volto",
        "f.example": "frontend_only",
        "implied.example": "volto",
        "c.example": "classic",
    }
    assert Site.objects.get(domain="v.example").classic_ui_path == "/ClassicUI"
    assert Site.objects.get(domain="f.example").frontend_balancer.name == "volto-acme"


def test_the_csv_import_reports_bad_kind_combinations_per_row_and_saves_nothing(frontend_pool):
    rows = [
        {
            "domain": "ok.example",
            "balancer": "bronze",
            "plone_path": "/Plone",
            "kind": "volto",
            "frontend_balancer": "volto-acme",
        },
        {"domain": "a.example", "balancer": "bronze", "plone_path": "/Plone", "kind": "volto"},
        {
            "domain": "b.example",
            "balancer": "bronze",
            "plone_path": "/Plone",
            "kind": "volto",
            "frontend_balancer": "nope",
        },
        {"domain": "c.example", "balancer": "bronze", "plone_path": "/Plone", "frontend_balancer": "bronze"},
        {"domain": "d.example", "balancer": "bronze", "plone_path": "/Plone", "classic_ui_path": "/ClassicUI"},
        {
            "domain": "e.example",
            "balancer": "volto-acme",
            "plone_path": "/Plone",
            "kind": "volto",
            "frontend_balancer": "volto-acme",
        },
        {"domain": "f.example", "balancer": "bronze", "plone_path": "/Plone", "kind": "wordpress"},
    ]
    result = services.site_import(rows, actor=ACTOR)
    assert not result.imported and not Site.objects.filter(domain__endswith=".example").exists()
    errors = [row.errors for row in result.rows]
    assert errors[0] == {}
    assert errors[1]["frontend_balancer"] == ["A Volto site needs a Node.js frontend balancer."]
    assert errors[2]["frontend_balancer"] == ["There is no balancer named 'nope'."]
    assert "bronze groups Zope servers" in errors[3]["frontend_balancer"][0]
    assert errors[4]["classic_ui_path"] == ["Only a Volto site keeps a Classic UI path."]
    assert "volto-acme is a Node.js frontend balancer" in errors[5]["balancer"][0]
    assert "kind" in errors[6]
