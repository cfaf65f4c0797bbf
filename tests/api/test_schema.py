"""The OpenAPI document describes every operation with its error responses."""

from __future__ import annotations

from rest_framework.test import APIClient


def schema() -> dict:
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_error_responses(db):
    paths = schema()["paths"]
    operations = [(path, method, op) for path, item in paths.items() for method, op in item.items()]
    assert len(operations) == 45  # 32 + issue #15: rolling restarts (5), alert channels (6), alerts (2)
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"401", "403", "429"} <= codes, (method, path)
        if method in {"post", "patch", "delete"}:
            assert {"400", "409"} <= codes, (method, path)
        if method == "post":
            assert "422" in codes, (method, path)
            assert any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])), (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
    error = schema()["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code"}


def test_the_contract_paths_and_site_fields_are_documented(db):
    document = schema()
    for path in (
        "/api/v1/sites/",
        "/api/v1/sites/{domain}/",
        "/api/v1/sites/{domain}/suspend/",
        "/api/v1/sites/{domain}/unsuspend/",
        "/api/v1/zope-servers/",
        "/api/v1/frontends/",
        "/api/v1/balancers/",
        "/api/v1/members/",
        "/api/v1/deployments/",
        "/api/v1/deployments/{id}/rollback/",
        "/api/v1/status/",
    ):
        assert path in document["paths"], path
    site = document["components"]["schemas"]["Site"]["properties"]
    assert set(site) == {
        "domain",
        "aliases",
        "balancer",
        "plone_path",
        "status",
        "suspended_reason",
        "customer_ref",
        "created_at",
        "updated_at",
        "url",
        "deployment",
    }
    assert "202" in document["paths"]["/api/v1/deployments/"]["post"]["responses"]
    frontend = document["components"]["schemas"]["FrontEnd"]["properties"]
    assert frontend["manager_password"].get("writeOnly") is True
    assert {"tokenAuth"} <= set(document["components"]["securitySchemes"])


def test_the_status_overview_is_fully_described(db):
    document = schema()
    schemas = document["components"]["schemas"]
    ok = document["paths"]["/api/v1/status/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/StatusOverview"}
    overview = schemas["StatusOverview"]
    assert set(overview["required"]) == {
        "generated_at",
        "timeout",
        "history_minutes",
        "frontends",
        "last_deployment",
        "balancers",
    }
    member = schemas["StatusMember"]["properties"]
    assert set(member) == {
        "id",
        "route",
        "zope_server",
        "url",
        "lbset",
        "intended",
        "live",
        "in_sync",
        "drift",
        "history",
    }
    assert member["live"]["type"] == "object"
    assert member["live"]["additionalProperties"] == {"$ref": "#/components/schemas/StatusLiveMember"}
    assert set(schemas["StatusLiveMember"]["required"]) == {"state", "status"}  # all a host that is down gives


def test_no_operation_documents_a_feature_that_is_not_installed(db):
    paths = schema()["paths"]
    assert not [
        (path, method) for path, item in paths.items() for method, op in item.items() if "503" in op["responses"]
    ]
