"""The REST API of application servers, balancers and members: `kind` (zope / node) read, written on create,
filtered; a member of the other kind and a kind change of a balancer in use are 400s; scopes as before."""

from __future__ import annotations

import pytest

from tests.factories import add_frontend_pool


@pytest.fixture
def node_pool(db):
    return add_frontend_pool()


def test_the_api_creates_a_node_server_and_filters_by_kind(operator, demo):
    response = operator.post(
        "/api/v1/zope-servers/", {"name": "node5", "kind": "node", "host": "127.0.0.1", "port": 3005}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["health_path"]) == ("node", "/ok")
    names = [s["name"] for s in operator.get("/api/v1/zope-servers/?kind=node").json()["results"]]
    assert names == ["node5"]
    assert operator.get("/api/v1/zope-servers/zope1/").json()["kind"] == "zope"


def test_the_api_refuses_an_unknown_kind_and_a_member_of_the_other_kind(operator, demo, node_pool):
    response = operator.post(
        "/api/v1/zope-servers/", {"name": "x1", "kind": "php", "host": "127.0.0.1", "port": 3009}, format="json"
    )
    assert response.status_code == 400 and "kind" in response.json()["errors"]
    response = operator.post("/api/v1/members/", {"balancer": "bronze", "zope_server": "node1"}, format="json")
    assert response.status_code == 400
    assert "groups Zope (Plone backend) servers" in str(response.json()["errors"]["zope_server"])


def test_the_api_creates_a_node_balancer_and_lists_members_by_kind(operator, demo, node_pool):
    response = operator.post("/api/v1/balancers/", {"name": "volto-c", "kind": "node"}, format="json")
    assert response.status_code == 201 and response.json()["kind"] == "node"
    kinds = [b["kind"] for b in operator.get("/api/v1/balancers/?kind=node").json()["results"]]
    assert kinds == ["node", "node"]
    members = operator.get("/api/v1/members/?kind=node").json()["results"]
    assert sorted(m["route"] for m in members) == ["node1", "node2"] and {m["kind"] for m in members} == {"node"}
    response = operator.patch("/api/v1/balancers/volto-acme/", {"kind": "zope"}, format="json")
    assert response.status_code == 409 and "kind" in response.json()["errors"]  # in use, as for a delete


def test_a_read_token_sees_the_kind_but_cannot_create_a_server(client_for, node_pool):
    reader = client_for("read")
    assert reader.get("/api/v1/balancers/volto-acme/").json()["kind"] == "node"
    response = reader.post(
        "/api/v1/zope-servers/", {"name": "node8", "kind": "node", "host": "127.0.0.1", "port": 3008}, format="json"
    )
    assert response.status_code == 403
