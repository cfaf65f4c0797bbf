"""Site kinds through the API: `kind`, `frontend_balancer` (by name, like `balancer`) and `classic_ui_path`
read back on every site, set on create and PATCH, and a 400 naming the field for what the model refuses."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from sites.models import Site


@pytest.fixture
def front(demo, actor):
    front = balancer_services.balancer_create(actor=actor, name="front", kind="node")
    server = balancer_services.zope_server_create(actor=actor, name="volto1", kind="node", host="10.0.1.1", port=3000)
    balancer_services.member_create(actor=actor, balancer=front, zope_server=server)
    return front


def new_site(**overrides) -> dict:
    return {"domain": "shop.example.com", "balancer": "bronze", "plone_path": "/Plone", **overrides}


def test_a_classic_site_answers_its_kind_and_no_frontend(demo, billing):
    body = billing.get("/api/v1/sites/linux.co.uk/").json()
    assert (body["kind"], body["frontend_balancer"], body["classic_ui_path"]) == ("classic", "", "")


def test_a_volto_site_is_created_with_its_frontend_balancer_by_name_and_patched_to_frontend_only(front, billing):
    created = billing.post(
        "/api/v1/sites/",
        new_site(kind="volto", frontend_balancer="front", classic_ui_path="/ClassicUI"),
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["kind"], body["frontend_balancer"], body["classic_ui_path"]) == ("volto", "front", "/ClassicUI")
    patched = billing.patch(
        "/api/v1/sites/shop.example.com/", {"kind": "frontend_only", "classic_ui_path": ""}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    site = Site.objects.get(domain="shop.example.com")
    assert (site.kind, site.frontend_balancer.name, site.classic_ui_path) == ("frontend_only", "front", "")
    back = billing.patch("/api/v1/sites/shop.example.com/", {"kind": "classic", "frontend_balancer": ""}, format="json")
    assert back.status_code == 200, back.json()
    assert back.json()["frontend_balancer"] == ""


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "volto"}, "frontend_balancer", "needs a Node.js frontend balancer"),
        ({"kind": "volto", "frontend_balancer": "nope"}, "frontend_balancer", "There is no balancer named 'nope'"),
        ({"kind": "volto", "frontend_balancer": "silver"}, "frontend_balancer", "groups Zope servers"),
        ({"frontend_balancer": "front"}, "frontend_balancer", "A Classic UI site has no frontend balancer"),
        ({"kind": "volto", "frontend_balancer": "front", "classic_ui_path": "/static"}, "classic_ui_path", "Volto"),
        ({"balancer": "front"}, "balancer", "is a Node.js frontend balancer"),
    ],
)
def test_what_the_model_refuses_is_a_400_naming_the_field(front, billing, fields, field, message):
    answer = billing.post("/api/v1/sites/", new_site(**fields), format="json")
    assert answer.status_code == 400, answer.json()
    assert message in str(answer.json()), answer.json()
    assert field in str(answer.json())
    assert not Site.objects.filter(domain="shop.example.com").exists()
