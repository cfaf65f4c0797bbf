"""Operator endpoints: Zope servers, front-ends, balancers, members, deployments and live status."""

from __future__ import annotations

import pytest

from api.deployments import views
from balancers import services as balancer_services
from balancers.models import BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from balancers.selectors.overview import status_overview
from balancers.services import MemberChangeResult
from deploy.runner import store_tree
from devrig.net import free_port
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from status.manager import ApplyResult
from tests.samples import MANAGER_XML

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


def test_a_front_end_with_a_hostile_config_dir_or_missing_host_key_is_a_400(db, operator):
    # (the commands are read-only in the API: tests/api/test_power.py)
    response = operator.post(
        "/api/v1/frontends/",
        {"name": "fe2", "address": "10.0.0.2", "ssh_host_key": HOST_KEY, "config_dir": "/srv/hp\nInclude /etc"},
        format="json",
    )
    assert response.status_code == 400
    assert "config_dir" in response.json()["errors"]
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
        ({"name": "zope9", "host": "10.0.0.9", "health_path": "/ok hcexpr=x"}, "health_path"),
        ({"name": "zope9", "host": "10.0.0.9", "health_method": "TCP"}, "health_method"),
        ({"name": "zope9", "host": "10.0.0.9", "health_fails": 0}, "health_fails"),
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


def test_live_toggles_are_saved_and_each_front_ends_outcome_is_reported(demo, operator):
    """The real member_set_flags: saved and audited, then tried on every enabled front-end (here one
    without a balancer-manager URL, which is reported as not applied rather than failing the request)."""
    balancer_services.frontend_create(
        actor=Actor.command("tests"), name="fe1", address="10.0.0.1", ssh_host_key=HOST_KEY
    )
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    response = operator.patch(f"/api/v1/members/{member.pk}/", {"drain": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["drain"] is True and body["state"] == "drain"
    assert body["live"] == [
        {
            "frontend": "fe1",
            "applied": False,
            "reason": "unconfigured: no balancer-manager URL is set for this front-end",
            "live_status": "",
        }
    ]
    member.refresh_from_db()
    assert member.drain is True
    assert AuditEntry.objects.filter(action="member.update", actor="operator-token").exists()


def test_a_member_dry_run_answers_the_effect_and_changes_nothing(demo, operator):
    balancer_services.frontend_create(
        actor=Actor.command("tests"), name="fe1", address="10.0.0.1", ssh_host_key=HOST_KEY
    )
    zope1, zope2 = (BalancerMember.objects.get(balancer=demo, zope_server__name=n) for n in ("zope1", "zope2"))
    balancer_services.member_set_flags(zope2, actor=Actor.command("tests"), disabled=True, apply_live=False)
    response = operator.patch(f"/api/v1/members/{zope1.pk}/?dry_run=1", {"disabled": True}, format="json")
    assert response.status_code == 200, response.json()
    (bronze,) = response.json()["balancers"]
    assert bronze["balancer"] == "bronze" and bronze["left_with"] == "hot standby only" and bronze["loses_capacity"]
    assert "linux.co.uk" in bronze["sites"] and response.json()["offline"] == []
    assert any("+D" in line for line in response.json()["frontends"][0]["diff"])
    zope1.refresh_from_db()
    assert not zope1.disabled


def test_live_toggles_go_through_member_set_flags_and_report_each_front_end(demo, operator, monkeypatch):
    calls = []

    def member_set_flags(member, *, actor, force=False, **flags):
        calls.append((member.pk, actor, force, flags))
        saved = balancer_services.member_update(member, actor=actor, **flags)
        outcome = ApplyResult(1, "fe1", True, "applied", "Init Drn Ok", "http://127.0.0.1:18102")
        return MemberChangeResult(member=saved, changed=flags, forced=force, deployment=None, frontends=[outcome])

    monkeypatch.setattr("balancers.services.members.member_set_flags", member_set_flags)
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


def test_the_last_usable_member_guard_rail_is_a_409_unless_forced(demo, operator):
    zope1 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    zope2 = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    backup = BalancerMember.objects.get(balancer=demo, zope_server__name="backup")  # hot standby: usable too
    for other in (zope2, backup):
        assert operator.patch(f"/api/v1/members/{other.pk}/", {"disabled": True}, format="json").status_code == 200
    refused = operator.patch(f"/api/v1/members/{zope1.pk}/", {"disabled": True}, format="json")
    assert refused.status_code == 409
    assert "no usable member" in refused.json()["errors"]["non_field_errors"][0]
    zope1.refresh_from_db()
    assert zope1.disabled is False
    forced = operator.patch(f"/api/v1/members/{zope1.pk}/", {"disabled": True, "force": True}, format="json")
    assert forced.status_code == 200, forced.json()
    assert forced.json()["disabled"] is True and forced.json()["live"] == []


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
        deployment=deployment, frontend_name="fe1", status="succeeded", stage="done", duration=1.5, change_kind="map"
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
            "change_kind": "map",
            "message": "",
            "duration": 1.5,
            "started_at": None,
            "finished_at": None,
        },
        {
            "frontend": "fe2",
            "status": "failed",
            "stage": "configtest",
            "change_kind": "",
            "message": "Syntax error",
            "duration": None,
            "started_at": None,
            "finished_at": None,
        },
    ]
    assert reader.get("/api/v1/deployments/").json()["count"] == 1


def test_starting_a_deployment_queues_a_real_one_and_answers_202(frontend, operator):
    response = operator.post("/api/v1/deployments/", {"frontends": ["fe1"]}, format="json")
    assert response.status_code == 202, response.json()
    deployment = Deployment.objects.get(pk=response.json()["id"])
    assert response.json() == {"id": deployment.pk, "status": "queued"}
    assert (deployment.trigger, deployment.actor) == ("manual", "operator-token")
    assert [h.frontend_name for h in deployment.hosts.all()] == ["fe1"]
    assert AuditEntry.objects.filter(action="deployment.start", actor="operator-token").exists()


def test_a_rollback_queues_the_trees_of_the_earlier_deployment(frontend, operator):
    tree = store_tree({"balancers.conf": "# r1\n"})
    earlier = Deployment.objects.create(actor="ops", status="succeeded", revision="r1", trigger="manual")
    DeploymentHost.objects.create(
        deployment=earlier, frontend=frontend, frontend_name="fe1", status="succeeded", stage="done", tree=tree
    )
    later = Deployment.objects.create(actor="ops", status="succeeded", revision="r2", trigger="manual")
    DeploymentHost.objects.create(
        deployment=later,
        frontend=frontend,
        frontend_name="fe1",
        status="succeeded",
        tree=store_tree({"balancers.conf": "# r2\n"}),
    )
    assert operator.post(f"/api/v1/deployments/{later.pk}/rollback/").status_code == 409  # it is what fe1 serves
    dry = operator.post(f"/api/v1/deployments/{earlier.pk}/rollback/?dry_run=1")
    assert dry.status_code == 200 and not Deployment.objects.filter(rollback_of=earlier).exists()
    assert [fe["frontend"] for fe in dry.json()["frontends"]] == ["fe1"] and dry.json()["offline"] == []
    assert "+# r1" in dry.json()["frontends"][0]["diff"]
    response = operator.post(f"/api/v1/deployments/{earlier.pk}/rollback/")
    assert response.status_code == 202, response.json()

    rollback = Deployment.objects.get(pk=response.json()["id"])
    assert (rollback.trigger, rollback.rollback_of, rollback.revision) == ("rollback", earlier, "r1")
    assert [(h.frontend_name, h.tree_id) for h in rollback.hosts.all()] == [("fe1", tree.pk)]


def test_starting_a_deployment_calls_deployment_start_and_answers_202(frontend, operator, monkeypatch):
    calls = []

    def deployment_start(*, actor, trigger, frontends=None):
        calls.append((actor, trigger, frontends))
        return Deployment.objects.create(actor=actor.name, trigger=trigger)

    def deployment_rollback(deployment, *, actor):
        calls.append((actor, "rollback", deployment.pk))
        return Deployment.objects.create(actor=actor.name, trigger="rollback", rollback_of=deployment)

    monkeypatch.setattr(views, "deployment_start", deployment_start)
    monkeypatch.setattr(views, "deployment_rollback", deployment_rollback)
    monkeypatch.setattr(views, "rollback_refusal", lambda deployment: "")
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


@pytest.fixture
def manager_answering_the_captured_xml(canned_server):
    """A loopback HTTP server answering every GET with a balancer-manager 2.4.71 ?xml=1 capture
    (bronze: zope1 "Init Ok", zope2 "Init Err", a hot standby on another URL); stopped afterwards."""
    url, _server = canned_server(body=MANAGER_XML)
    return url


def test_the_status_is_the_dashboards_overview_of_intended_and_live_state(
    demo, operator, manager_answering_the_captured_xml
):
    actor = Actor.command("tests")
    for name, url in (("fe1", manager_answering_the_captured_xml), ("fe2", f"http://127.0.0.1:{free_port()}/bm")):
        balancer_services.frontend_create(
            actor=actor, name=name, address="10.0.0.1", ssh_host_key=HOST_KEY, balancer_manager_url=url
        )
    response = operator.get("/api/v1/status/?live=1")  # ask the front-ends now (and keep their answers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "generated_at", "live", "timeout", "history_minutes", "frontends", "last_deployment", "balancers"
    }  # fmt: skip
    assert body["live"] is True
    hosts = {f["name"]: f for f in body["frontends"]}
    assert hosts["fe1"]["state"] == "ok"
    assert hosts["fe2"]["state"] == "refused"
    bronze = next(b for b in body["balancers"] if b["name"] == "bronze")
    members = {m["route"]: m for m in bronze["members"]}
    assert members["backup"]["intended"] == {
        "hot_standby": True,
        "drain": False,
        "disabled": False,
        "loadfactor": 1,
        "state": "hot standby",
    }
    assert members["zope1"]["live"]["fe1"]["state"] == "ok"
    assert members["zope1"]["live"]["fe1"]["status"] == "Init Ok"
    assert members["zope1"]["live"]["fe2"]["host_down"] is True
    assert members["zope2"]["live"]["fe1"]["state"] == "error"
    assert members["backup"]["live"]["fe1"]["state"] == "missing"  # another URL and no route in the capture
    assert members["backup"]["in_sync"] is False and members["backup"]["drift"]
    assert len(members["zope1"]["history"]["elected"]) == len(members["zope1"]["history"]["traffic"]) > 0
    assert "f2c152bc-3186-39e6-34b1-2e0f01d49149" not in response.content.decode()  # the nonce stays inside
    dashboard = status_overview()  # what the dashboard page shows, from the stored answers: the same data
    assert dashboard["live"] is False
    assert (dashboard["balancers"], dashboard["last_deployment"]) == (body["balancers"], body["last_deployment"])
    assert [(f["name"], f["state"]) for f in dashboard["frontends"]] == [
        (f["name"], f["state"]) for f in body["frontends"]
    ]


def test_a_rollback_with_nothing_to_roll_back_to_is_a_409(deployment, operator):
    response = operator.post(f"/api/v1/deployments/{deployment.pk}/rollback/")
    assert response.status_code == 409
    assert "no stored tree" in response.json()["detail"]


def test_a_zope_server_s_health_check_is_read_and_written_through_the_api(demo, operator):
    response = operator.patch(
        "/api/v1/zope-servers/zope1/", {"health_path": "/ok", "health_interval": 2}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["health_path"], response.json()["health_interval"]) == ("/ok", 2)
    assert response.json()["health_method"] == "GET"
    server = ZopeServer.objects.get(name="zope1")
    assert (server.health_path, server.health_interval, server.health_fails) == ("/ok", 2, 2)
