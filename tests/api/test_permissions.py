"""The permission matrix: every endpoint and method against each token scope, staff roles and no
credentials. billing: sites only; operator: everything; read: GET only; staff: read, operators write."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from balancers import services as balancer_services
from balancers.models import BalancerMember, Deployment, DeploymentHost
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

# (area, method, path, body)
OPERATIONS = [
    ("sites", "get", "/api/v1/sites/", None),
    ("sites", "post", "/api/v1/sites/", {"domain": "new.example.com", "balancer": "bronze", "plone_path": "/plone/n"}),
    ("sites", "get", "/api/v1/sites/linux.co.uk/", None),
    ("sites", "patch", "/api/v1/sites/linux.co.uk/", {"customer_ref": "C-2"}),
    ("sites", "delete", "/api/v1/sites/linux.co.uk/", None),
    ("sites", "post", "/api/v1/sites/linux.co.uk/suspend/", {"reason": "unpaid"}),
    ("sites", "post", "/api/v1/sites/linux.co.uk/unsuspend/", None),
    ("infra", "get", "/api/v1/zope-servers/", None),
    ("infra", "post", "/api/v1/zope-servers/", {"name": "zope9", "host": "10.0.0.9", "port": 8080}),
    ("infra", "get", "/api/v1/zope-servers/zope1/", None),
    ("infra", "patch", "/api/v1/zope-servers/zope1/", {"description": "changed"}),
    ("infra", "delete", "/api/v1/zope-servers/spare/", None),
    ("infra", "get", "/api/v1/frontends/", None),
    ("infra", "post", "/api/v1/frontends/", {"name": "fe2", "address": "10.0.0.2", "ssh_host_key": HOST_KEY}),
    ("infra", "get", "/api/v1/frontends/fe1/", None),
    ("infra", "patch", "/api/v1/frontends/fe1/", {"description": "changed"}),
    ("infra", "delete", "/api/v1/frontends/fe1/", None),
    ("infra", "get", "/api/v1/balancers/", None),
    ("infra", "post", "/api/v1/balancers/", {"name": "gold"}),
    ("infra", "get", "/api/v1/balancers/bronze/", None),
    ("infra", "patch", "/api/v1/balancers/bronze/", {"cookie_ttl": 600}),
    ("infra", "delete", "/api/v1/balancers/bronze/", None),
    ("infra", "get", "/api/v1/members/", None),
    ("infra", "post", "/api/v1/members/", {"balancer": "silver", "zope_server": "spare"}),
    ("infra", "get", "/api/v1/members/{member}/", None),
    ("infra", "patch", "/api/v1/members/{member}/", {"timeout": 30}),
    ("infra", "delete", "/api/v1/members/{member}/", None),
    ("infra", "get", "/api/v1/deployments/", None),
    ("infra", "post", "/api/v1/deployments/", {}),
    ("infra", "get", "/api/v1/deployments/{deployment}/", None),
    ("infra", "post", "/api/v1/deployments/{deployment}/rollback/", None),
    ("infra", "get", "/api/v1/status/", None),
]

PRINCIPALS = ["billing", "operator", "read", "staff-viewer", "staff-operator", "superuser", "anonymous"]


def allowed(principal: str, area: str, method: str) -> bool | None:
    """True: permitted; False: 403; None: 401 (no credentials)."""
    write = method != "get"
    if principal == "anonymous":
        return None
    if principal in {"operator", "staff-operator", "superuser"}:
        return True
    if principal in {"read", "staff-viewer"}:
        return not write
    if principal == "billing":
        return area == "sites"
    raise AssertionError(principal)


@pytest.fixture
def world(demo):
    actor = Actor.command("tests")
    balancer_services.zope_server_create(actor=actor, name="spare", host="10.0.0.8", port=8080)
    balancer_services.frontend_create(actor=actor, name="fe1", address="10.0.0.1", ssh_host_key=HOST_KEY)
    member = BalancerMember.objects.filter(balancer__name="bronze").first()
    deployment = Deployment.objects.create(actor="tests", status="succeeded", revision="abc")
    DeploymentHost.objects.create(deployment=deployment, frontend_name="fe1", status="succeeded", stage="done")
    return {"member": member.pk, "deployment": deployment.pk}


def principal_client(principal: str, make_token) -> APIClient:
    client = APIClient()
    if principal in {"billing", "operator", "read"}:
        client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(principal)}")
    elif principal != "anonymous":
        users = get_user_model().objects
        if principal == "superuser":
            user = users.create_superuser("root", "root@example.com", "x")
        else:
            user = users.create_user(principal, "s@example.com", "x", is_staff=True)
            if principal == "staff-operator":
                user.groups.add(Group.objects.get_or_create(name="operators")[0])
        client.force_login(user)
    return client


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize(
    ("area", "method", "path", "body"), OPERATIONS, ids=[f"{m.upper()} {p}" for _a, m, p, _b in OPERATIONS]
)
def test_each_principal_gets_exactly_its_scope(world, make_token, principal, area, method, path, body):
    client = principal_client(principal, make_token)
    url = path.format(**world)
    response = getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)
    expected = allowed(principal, area, method)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    if expected is None:
        assert response.status_code == 401, response.json()
    elif expected is False:
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "permission_denied"
    else:
        # permitted: the request reached the service (success, or a service refusal such as a PROTECTed delete)
        assert response.status_code in {200, 201, 202, 409}, (response.status_code, response.json())


def test_a_non_staff_session_is_not_let_in(db):
    user = get_user_model().objects.create_user("customer", "c@example.com", "x")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/sites/").status_code == 401


def test_a_staff_session_write_needs_the_csrf_token(demo):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post("/api/v1/sites/linux.co.uk/suspend/", {"reason": "x"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    page = client.get("/api/v1/sites/linux.co.uk/", HTTP_ACCEPT="text/html")  # the browsable API sets the cookie
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/sites/linux.co.uk/suspend/", {"reason": "x"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200, accepted.json()

    assert AuditEntry.objects.filter(action="site.suspend").get().actor == "root"


def test_the_schema_and_docs_are_public_and_local(db):
    schema = APIClient().get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = APIClient().get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
