"""Operator endpoints: Zope servers, front-ends, balancers, members, deployments and live status."""

from __future__ import annotations

import datetime
import sys
import types

import pytest

import balancers
from api import views
from balancers import services as balancer_services
from balancers.models import BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from hostpanel.audit import Actor

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture
def frontend(db):
    return balancer_services.frontend_create(
        actor=Actor.command("tests"),
        name="fe1",
        address="10.0.0.1",
        ssh_host_key=HOST_KEY,
        manager_username="admin",
        manager_password="s3cret-pass",
    )


def test_the_manager_password_is_write_only(frontend, operator):
    listed = operator.get("/api/v1/frontends/").json()["results"][0]
    detail = operator.get("/api/v1/frontends/fe1/").json()
    for body in (listed, detail):
        assert "manager_password" not in body
        assert body["has_manager_password"] is True
        assert "s3cret-pass" not in str(body)
    changed = operator.patch("/api/v1/frontends/fe1/", {"manager_password": "n3w-pass"}, format="json")
    assert changed.status_code == 200
    assert "n3w-pass" not in changed.content.decode()
    assert FrontEnd.objects.get(name="fe1").manager_password == "n3w-pass"


def test_a_front_end_with_a_hostile_command_or_missing_host_key_is_a_400(db, operator):
    response = operator.post(
        "/api/v1/frontends/",
        {"name": "fe2", "address": "10.0.0.2", "ssh_host_key": HOST_KEY, "reload_command": "graceful\nrm -rf /"},
        format="json",
    )
    assert response.status_code == 400
    assert "reload_command" in response.json()["errors"]
    response = operator.post("/api/v1/frontends/", {"name": "fe2", "address": "10.0.0.2"}, format="json")
    assert response.status_code == 400
    assert "ssh_host_key" in response.json()["errors"]


def test_a_balancer_shows_its_members_nested_and_read_only(demo, operator):
    body = operator.get("/api/v1/balancers/bronze/").json()
    assert [m["route"] for m in body["members"]] == ["zope1", "zope2", "backup"]
    backup = body["members"][2]
    assert backup["hot_standby"] is True and backup["lbset"] == 2 and backup["state"] == "hot standby"
    response = operator.patch("/api/v1/balancers/bronze/", {"members": []}, format="json")
    assert response.status_code == 200
    assert BalancerMember.objects.filter(balancer=demo).count() == 3


def test_balancer_query_count_does_not_grow_with_members(demo, operator, django_assert_max_num_queries):
    operator.get("/api/v1/balancers/")
    actor = Actor.command("tests")
    for i in range(30):
        server = balancer_services.zope_server_create(actor=actor, name=f"z{i}", host="10.1.0.1", port=9000 + i)
        balancer_services.member_create(actor=actor, balancer=demo, zope_server=server)
    with django_assert_max_num_queries(5):
        assert operator.get("/api/v1/balancers/").status_code == 200
    with django_assert_max_num_queries(5):
        assert operator.get("/api/v1/members/?page_size=100").status_code == 200


def test_a_taken_name_or_host_and_port_is_a_409(demo, operator):
    taken_name = operator.post("/api/v1/zope-servers/", {"name": "zope1", "host": "10.9.9.9"}, format="json")
    assert taken_name.status_code == 409
    assert "name" in taken_name.json()["errors"]
    taken_port = operator.post(
        "/api/v1/zope-servers/", {"name": "zope9", "host": "127.0.0.1", "port": 18101}, format="json"
    )
    assert taken_port.status_code == 409, taken_port.json()
    twice = operator.post("/api/v1/members/", {"balancer": "bronze", "zope_server": "zope1"}, format="json")
    assert twice.status_code == 409


def test_deleting_what_is_still_in_use_is_a_409(demo, operator):
    response = operator.delete("/api/v1/balancers/bronze/")
    assert response.status_code == 409
    assert "cannot be deleted" in response.json()["errors"]["non_field_errors"][0]
    assert operator.delete("/api/v1/zope-servers/zope1/").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "zope.9", "host": "10.0.0.9"}, "name"),
        ({"name": "zope9", "host": "10.0.0.9\nX"}, "host"),
        ({"name": "zope9", "host": "10.0.0.9", "port": 70000}, "port"),
        ({"name": "zope9", "host": "10.0.0.9", "description": "a\nb"}, "description"),
    ],
)
def test_a_hostile_zope_server_is_a_400(db, operator, body, field):
    response = operator.post("/api/v1/zope-servers/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ZopeServer.objects.exists()


def test_member_settings_that_are_not_live_toggles_are_saved_through_the_service(demo, operator):
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    response = operator.patch(f"/api/v1/members/{member.pk}/", {"timeout": 30, "retry": 5}, format="json")
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.timeout, member.retry) == (30, 5)


def test_live_toggles_are_a_503_until_the_live_service_is_installed(demo, operator, monkeypatch):
    monkeypatch.setattr(views, "live_member_service", lambda: None)
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    response = operator.patch(f"/api/v1/members/{member.pk}/", {"drain": True}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "not_available"
    member.refresh_from_db()
    assert member.drain is False


def test_live_toggles_go_through_member_set_flags_and_report_each_front_end(demo, operator, monkeypatch):
    calls = []

    def member_set_flags(member, *, actor, force=False, **flags):
        calls.append((member.pk, actor, force, flags))
        saved = balancer_services.member_update(member, actor=actor, **flags)
        outcome = types.SimpleNamespace(frontend_name="fe1", applied=True, reason="applied", live_status="Init Drn Ok")
        return types.SimpleNamespace(member=saved, deployment=None, frontends=[outcome])

    monkeypatch.setattr(views, "live_member_service", lambda: member_set_flags)
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    response = operator.patch(
        f"/api/v1/members/{member.pk}/", {"drain": True, "loadfactor": 3, "timeout": 12}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["drain"] is True and body["loadfactor"] == 3 and body["timeout"] == 12
    assert body["state"] == "drain"
    assert body["live"] == [{"frontend": "fe1", "applied": True, "reason": "applied", "live_status": "Init Drn Ok"}]
    assert calls == [(member.pk, Actor(name="operator-token", source="api"), False, {"drain": True, "loadfactor": 3})]
    assert operator.get(f"/api/v1/members/{member.pk}/").json()["live"] is None


def test_the_last_usable_member_guard_rail_is_a_409(demo, operator, monkeypatch):
    from django.core.exceptions import ValidationError

    def member_set_flags(member, *, actor, force=False, **flags):
        if not force:
            raise ValidationError("Balancer bronze would have no usable member left.", code="last_usable_member")
        return types.SimpleNamespace(member=member, deployment=None, frontends=[])

    monkeypatch.setattr(views, "live_member_service", lambda: member_set_flags)
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    refused = operator.patch(f"/api/v1/members/{member.pk}/", {"disabled": True}, format="json")
    assert refused.status_code == 409
    assert "no usable member" in refused.json()["errors"]["non_field_errors"][0]
    forced = operator.patch(f"/api/v1/members/{member.pk}/", {"disabled": True, "force": True}, format="json")
    assert forced.status_code == 200


def test_a_member_is_created_through_the_service(demo, operator):
    balancer_services.zope_server_create(actor=Actor.command("t"), name="zope9", host="10.0.0.9", port=8080)
    response = operator.post(
        "/api/v1/members/", {"balancer": "bronze", "zope_server": "zope9", "lbset": 2}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["route"] == "zope9"
    assert BalancerMember.objects.get(balancer=demo, zope_server__name="zope9").lbset == 2


@pytest.fixture
def deployment(db):
    deployment = Deployment.objects.create(actor="ops", status="partial", revision="r1", trigger="manual")
    DeploymentHost.objects.create(
        deployment=deployment, frontend_name="fe1", status="succeeded", stage="done", duration=1.5
    )
    DeploymentHost.objects.create(
        deployment=deployment, frontend_name="fe2", status="failed", stage="configtest", error="Syntax error"
    )
    return deployment


def test_a_deployment_shows_its_hosts(deployment, reader):
    body = reader.get(f"/api/v1/deployments/{deployment.pk}/").json()
    assert body["id"] == deployment.pk
    assert body["status"] == "partial"
    assert body["revision"] == "r1"
    assert body["hosts"] == [
        {
            "frontend": "fe1",
            "status": "succeeded",
            "stage": "done",
            "message": "",
            "duration": 1.5,
            "started_at": None,
            "finished_at": None,
        },
        {
            "frontend": "fe2",
            "status": "failed",
            "stage": "configtest",
            "message": "Syntax error",
            "duration": None,
            "started_at": None,
            "finished_at": None,
        },
    ]
    assert reader.get("/api/v1/deployments/").json()["count"] == 1


def test_starting_a_deployment_is_a_503_until_deploy_is_installed(db, operator, monkeypatch):
    monkeypatch.setattr(views, "deploy_function", lambda name: None)
    response = operator.post("/api/v1/deployments/", {}, format="json")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Deployments are not available on this installation yet.",
        "code": "not_available",
    }


def test_starting_a_deployment_calls_deployment_start_and_answers_202(frontend, operator, monkeypatch):
    calls = []

    def deployment_start(*, actor, trigger, frontends=None):
        calls.append((actor, trigger, frontends))
        return Deployment.objects.create(actor=actor.name, trigger=trigger)

    def deployment_rollback(deployment, *, actor):
        calls.append((actor, "rollback", deployment.pk))
        return Deployment.objects.create(actor=actor.name, trigger="rollback", rollback_of=deployment)

    fakes = {"deployment_start": deployment_start, "deployment_rollback": deployment_rollback}
    monkeypatch.setattr(views, "deploy_function", fakes.get)
    response = operator.post("/api/v1/deployments/", {}, format="json")
    assert response.status_code == 202
    first = Deployment.objects.get(pk=response.json()["id"])
    assert response.json() == {"id": first.pk, "status": "queued"}
    named = operator.post("/api/v1/deployments/", {"frontends": ["fe1"]}, format="json")
    assert named.status_code == 202
    unknown = operator.post("/api/v1/deployments/", {"frontends": ["nope"]}, format="json")
    assert unknown.status_code == 400
    assert "frontends" in unknown.json()["errors"]
    rolled = operator.post(f"/api/v1/deployments/{first.pk}/rollback/")
    assert rolled.status_code == 202
    assert Deployment.objects.get(pk=rolled.json()["id"]).rollback_of == first
    actor = Actor(name="operator-token", source="api")
    assert calls == [(actor, "manual", None), (actor, "manual", [frontend]), (actor, "rollback", first.pk)]


def test_the_live_status_is_the_status_modules_answer(db, reader, monkeypatch):
    flags = types.SimpleNamespace(state="hot standby")
    member = types.SimpleNamespace(
        url="http://127.0.0.1:18103",
        route="backup",
        lbset=2,
        loadfactor=1.0,
        status="Init Stby Ok ",
        flags=flags,
        elected=5,
        busy=0,
        transferred=10,
        read=20,
    )
    balancer = types.SimpleNamespace(
        name="bronze", lbmethod="byrequests", sticky_cookie="BALANCEID", nonce="secret-nonce", members=(member,)
    )
    host = types.SimpleNamespace(
        frontend_name="fe1",
        url="http://127.0.0.1/balancer-manager",
        state="ok",
        reason="",
        fetched_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        duration=0.01,
        balancers=(balancer,),
    )
    fake = types.ModuleType("balancers.status")
    fake.fetch_all = lambda endpoints: [host]
    fake.enabled_endpoints = lambda: ["fe1"]
    monkeypatch.setitem(sys.modules, "balancers.status", fake)
    monkeypatch.setattr(balancers, "status", fake, raising=False)
    response = reader.get("/api/v1/status/")
    assert response.status_code == 200
    body = response.json()
    assert body["frontends"][0]["frontend"] == "fe1"
    assert body["frontends"][0]["balancers"][0]["members"][0]["state"] == "hot standby"
    assert body["frontends"][0]["balancers"][0]["members"][0]["status"] == "Init Stby Ok"
    assert "secret-nonce" not in response.content.decode()


def test_a_rollback_with_nothing_to_roll_back_to_is_a_409(deployment, operator, monkeypatch):
    def deployment_rollback(deployment, *, actor):
        raise ValueError(f"deployment #{deployment.pk} has no stored tree to roll back to")

    monkeypatch.setattr(views, "deploy_function", {"deployment_rollback": deployment_rollback}.get)
    response = operator.post(f"/api/v1/deployments/{deployment.pk}/rollback/")
    assert response.status_code == 409
    assert "no stored tree" in response.json()["detail"]
