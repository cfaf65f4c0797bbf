"""The OpenAPI document describes every operation with its error responses."""

from __future__ import annotations

from openapi_spec_validator import validate
from rest_framework.test import APIClient


def schema() -> dict:
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_error_responses(db):
    paths = schema()["paths"]
    operations = [(path, method, op) for path, item in paths.items() for method, op in item.items()]
    # 32 + HTTPS certificates (3) + rolling restarts (5), alert channels (6), alerts (2), usage (2), quota (3)
    assert len(operations) == 53
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"401", "403", "429"} <= codes, (method, path)
        if method in {"post", "put", "patch", "delete"}:
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
        "/api/v1/sites/{domain}/certificate/",
        "/api/v1/sites/{domain}/certificate/renew/",
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
        "tls",
        "https_redirect",
        "hsts_seconds",
        "manage_access",
        "blocked_methods",
        "passthrough_paths",
        "edit_host",
        "kind",
        "frontend_balancer",
        "classic_ui_path",
        "certificate",
        "live",
        "pending_deployment",
        "left_out",
    }
    assert "202" in document["paths"]["/api/v1/deployments/"]["post"]["responses"]
    frontend = document["components"]["schemas"]["FrontEnd"]["properties"]
    assert "manager_password" not in frontend  # write-only: in the request components only
    assert document["components"]["schemas"]["FrontEndRequest"]["properties"]["manager_password"]["writeOnly"] is True
    assert {"tokenAuth"} <= set(document["components"]["securitySchemes"])


def test_the_status_overview_is_fully_described(db):
    document = schema()
    schemas = document["components"]["schemas"]
    ok = document["paths"]["/api/v1/status/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/StatusOverview"}
    overview = schemas["StatusOverview"]
    assert set(overview["required"]) == {
        "generated_at",
        "live",
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


def test_the_document_is_a_valid_openapi_document(db):
    validate(schema())  # openapi-spec-validator: raises on any violation of the OpenAPI 3 specification


def test_every_request_body_is_json_only(db):
    bodies = {
        (method, path): list(op["requestBody"]["content"])
        for path, item in schema()["paths"].items()
        for method, op in item.items()
        if "requestBody" in op
    }
    assert len(bodies) == 16  # the 12 writes, PUT sites/{domain}/certificate/, POST/PATCH alert-channels, PUT quota
    assert {types == ["application/json"] for types in bodies.values()} == {True}, bodies


def test_request_components_hold_only_the_writable_fields(db):
    document = schema()
    schemas = document["components"]["schemas"]
    create = document["paths"]["/api/v1/sites/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/SiteRequest"}
    assert set(schemas["SiteRequest"]["properties"]) == {
        *("domain", "aliases", "balancer", "plone_path", "customer_ref"),
        *("tls", "https_redirect", "hsts_seconds"),
        *("manage_access", "blocked_methods", "passthrough_paths", "edit_host"),
        *("kind", "frontend_balancer", "classic_ui_path"),
    }
    assert set(schemas["SiteRequest"]["required"]) == {"domain", "balancer", "plone_path"}
    assert set(schemas["PatchedSiteRequest"]["properties"]) == set(schemas["SiteRequest"]["properties"])
    assert "required" not in schemas["PatchedSiteRequest"]
    assert set(schemas["SuspendRequest"]["properties"]) == {"reason"}
    for name, component in schemas.items():
        if name.endswith("Request"):
            read_only = [f for f, spec in component.get("properties", {}).items() if spec.get("readOnly")]
            assert read_only == [], name
    assert "manager_password" in schemas["FrontEndRequest"]["properties"]
    assert "manager_password" not in schemas["FrontEnd"]["properties"]


def test_the_site_says_whether_its_configuration_is_live(db):
    site = schema()["components"]["schemas"]["Site"]
    assert site["properties"]["live"] == {
        "type": "boolean",
        "readOnly": True,
        "description": site["properties"]["live"]["description"],
    }
    assert site["properties"]["pending_deployment"]["type"] == "integer"
    assert site["properties"]["pending_deployment"]["nullable"] is True
    assert {"live", "pending_deployment"} <= set(site["required"])


def test_operation_ids_name_the_noun_and_what_the_operation_does(db):
    ids = {(method, path): op["operationId"] for path, item in schema()["paths"].items() for method, op in item.items()}
    assert ids == {
        ("get", "/api/v1/sites/"): "site_list",
        ("post", "/api/v1/sites/"): "site_create",
        ("get", "/api/v1/sites/{domain}/"): "site_retrieve",
        ("patch", "/api/v1/sites/{domain}/"): "site_update",
        ("delete", "/api/v1/sites/{domain}/"): "site_delete",
        ("post", "/api/v1/sites/{domain}/suspend/"): "site_suspend",
        ("post", "/api/v1/sites/{domain}/unsuspend/"): "site_unsuspend",
        ("get", "/api/v1/sites/{domain}/certificate/"): "site_certificate_retrieve",
        ("put", "/api/v1/sites/{domain}/certificate/"): "site_certificate_replace",
        ("post", "/api/v1/sites/{domain}/certificate/renew/"): "site_certificate_renew",
        ("get", "/api/v1/zope-servers/"): "zope_server_list",
        ("post", "/api/v1/zope-servers/"): "zope_server_create",
        ("get", "/api/v1/zope-servers/{name}/"): "zope_server_retrieve",
        ("patch", "/api/v1/zope-servers/{name}/"): "zope_server_update",
        ("delete", "/api/v1/zope-servers/{name}/"): "zope_server_delete",
        ("get", "/api/v1/frontends/"): "frontend_list",
        ("post", "/api/v1/frontends/"): "frontend_create",
        ("get", "/api/v1/frontends/{name}/"): "frontend_retrieve",
        ("patch", "/api/v1/frontends/{name}/"): "frontend_update",
        ("delete", "/api/v1/frontends/{name}/"): "frontend_delete",
        ("get", "/api/v1/balancers/"): "balancer_list",
        ("post", "/api/v1/balancers/"): "balancer_create",
        ("get", "/api/v1/balancers/{name}/"): "balancer_retrieve",
        ("patch", "/api/v1/balancers/{name}/"): "balancer_update",
        ("delete", "/api/v1/balancers/{name}/"): "balancer_delete",
        ("get", "/api/v1/members/"): "member_list",
        ("post", "/api/v1/members/"): "member_create",
        ("get", "/api/v1/members/{id}/"): "member_retrieve",
        ("patch", "/api/v1/members/{id}/"): "member_update",
        ("delete", "/api/v1/members/{id}/"): "member_delete",
        ("get", "/api/v1/deployments/"): "deployment_list",
        ("post", "/api/v1/deployments/"): "deployment_create",
        ("get", "/api/v1/deployments/{id}/"): "deployment_retrieve",
        ("post", "/api/v1/deployments/{id}/rollback/"): "deployment_rollback",
        ("get", "/api/v1/status/"): "status_retrieve",
        ("get", "/api/v1/alert-channels/"): "alert_channel_list",
        ("post", "/api/v1/alert-channels/"): "alert_channel_create",
        ("get", "/api/v1/alert-channels/{id}/"): "alert_channel_retrieve",
        ("patch", "/api/v1/alert-channels/{id}/"): "alert_channel_update",
        ("delete", "/api/v1/alert-channels/{id}/"): "alert_channel_delete",
        ("post", "/api/v1/alert-channels/{id}/test/"): "alert_channel_test",
        ("get", "/api/v1/alerts/"): "alert_list",
        ("get", "/api/v1/alerts/{id}/"): "alert_retrieve",
        ("post", "/api/v1/balancers/{name}/rolling-restart/"): "rolling_restart_create",
        ("get", "/api/v1/rolling-restarts/"): "rolling_restart_list",
        ("get", "/api/v1/rolling-restarts/{id}/"): "rolling_restart_retrieve",
        ("post", "/api/v1/rolling-restarts/{id}/cancel/"): "rolling_restart_cancel",
        ("post", "/api/v1/rolling-restarts/{id}/resume/"): "rolling_restart_resume",
        ("get", "/api/v1/sites/{domain}/usage/"): "site_usage_retrieve",
        ("get", "/api/v1/usage/"): "usage_list",
        ("get", "/api/v1/sites/{domain}/quota/"): "site_quota_retrieve",
        ("put", "/api/v1/sites/{domain}/quota/"): "site_quota_replace",
        ("delete", "/api/v1/sites/{domain}/quota/"): "site_quota_delete",
    }


def test_response_components_require_every_field_they_answer(db):
    schemas = schema()["components"]["schemas"]
    for name in ("Site", "ZopeServer", "FrontEnd", "Member", "Balancer", "Deployment", "DeploymentHost"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert {"aliases", "customer_ref"} <= set(schemas["Site"]["required"])  # optional inputs, always answered
