"""Rolling restarts from every door (web page, API, manage.py) without real parts: what is refused before
it starts, who may set a restart command, and what a queued job looks like."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from api.services import api_token_create
from balancers import services as balancer_services
from balancers.models import Balancer, BalancerMember, ZopeServer
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from operations.choices import RestartStatus
from operations.models import RollingRestart, ZopeServerOps
from operations.services import RestartRefused, rolling_restart_cancel, rolling_restart_start, zope_server_ops_update

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ACTOR = Actor(name="tester", source="command")


def give_restart_command(*names: str) -> None:
    for name in names:
        zope_server_ops_update(
            ZopeServer.objects.get(name=name),
            actor=ACTOR,
            allow_commands=True,
            restart_command=f"sudo systemctl restart {name}",
            ssh_host_key=HOST_KEY,
        )


@pytest.fixture
def api(db) -> APIClient:
    _token, key = api_token_create(actor=ACTOR, name="ops", scope="operator")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_rolling_restart_is_refused_when_a_member_has_no_restart_command(demo, api):
    give_restart_command("zope1")
    response = api.post("/api/v1/balancers/bronze/rolling-restart/")
    assert response.status_code == 409
    assert "zope2, backup" in response.json()["detail"] and "No restart command" in response.json()["detail"]
    assert not RollingRestart.objects.exists()


def test_a_rolling_restart_is_refused_when_one_usable_member_is_left(demo, actor):
    give_restart_command("zope1", "zope2", "backup")
    for route in ("zope2", "backup"):
        member = BalancerMember.objects.get(balancer__name="bronze", zope_server__name=route)
        balancer_services.member_set_flags(member, actor=actor, disabled=True, apply_live=False)
    with pytest.raises(RestartRefused) as refused:
        rolling_restart_start(balancer=demo, actor=actor)
    assert "1 usable member(s) (zope1)" in str(refused.value) and "guard rail" in str(refused.value)


def test_the_api_queues_a_job_and_its_url_shows_it_and_a_second_start_is_a_conflict(demo, api):
    give_restart_command("zope1", "zope2", "backup")
    response = api.post("/api/v1/balancers/bronze/rolling-restart/")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["routes"] == ["zope1", "zope2", "backup"]
    assert body["url"].endswith(f"/api/v1/rolling-restarts/{body['id']}/") and response["Location"] == body["url"]
    job = api.get(body["url"]).json()
    assert (job["balancer"], job["status"], job["steps"]) == ("bronze", "queued", [])
    again = api.post("/api/v1/balancers/bronze/rolling-restart/")
    assert again.status_code == 409 and "already queued or running" in again.json()["detail"]
    assert api.post(f"/api/v1/rolling-restarts/{body['id']}/cancel/").json()["status"] == "cancelled"
    assert api.post(f"/api/v1/rolling-restarts/{body['id']}/resume/").status_code == 202
    assert api.post("/api/v1/balancers/nope/rolling-restart/").status_code == 404


def test_a_read_token_may_look_but_not_start(demo, db):
    _token, key = api_token_create(actor=ACTOR, name="reader", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/v1/balancers/bronze/rolling-restart/").status_code == 403
    assert client.get("/api/v1/rolling-restarts/").status_code == 200


def test_only_a_superuser_may_set_the_restart_command(demo, actor):
    server = ZopeServer.objects.get(name="zope1")
    with pytest.raises(ValidationError) as refused:
        zope_server_ops_update(server, actor=actor, allow_commands=False, restart_command="rm -rf /")
    assert "Only a superuser" in str(refused.value)
    ops = zope_server_ops_update(server, actor=actor, allow_commands=False, health_path="/plone/@@ok")
    assert (ops.health_path, ops.restart_command) == ("/plone/@@ok", "")
    with pytest.raises(ValidationError) as no_key:
        zope_server_ops_update(server, actor=actor, allow_commands=True, restart_command="true")
    assert "host key is required" in str(no_key.value)
    assert AuditEntry.objects.filter(action="zopeserver.ops", object_key="zope1").count() == 1


def test_the_restart_settings_page_lets_only_a_superuser_change_the_command(demo, operator_client, admin_client):
    server = ZopeServer.objects.get(name="zope1")
    url = f"/operations/zope-servers/{server.pk}/restart-settings/"
    page = operator_client.get(url).content.decode()
    assert 'name="restart_command"' in page and "disabled" in page.split('name="restart_command"')[1][:200]
    operator_client.post(url, {"health_path": "/@@ok", "restart_command": "evil", "ssh_port": 22, "ssh_user": "x"})
    assert not ZopeServerOps.objects.filter(restart_command="evil").exists()
    admin_client.post(
        url,
        {
            "health_path": "/@@ok",
            "restart_command": "sudo systemctl restart zope1",
            "ssh_address": "",
            "ssh_port": 22,
            "ssh_user": "zope",
            "ssh_host_key": HOST_KEY,
        },
    )
    assert ZopeServerOps.objects.get(zope_server=server).restart_command == "sudo systemctl restart zope1"


def test_the_balancer_page_starts_a_rolling_restart_after_confirmation(demo, operator_client, viewer_client):
    url = f"/operations/balancers/{demo.pk}/rolling-restart/"
    refused = operator_client.get(url).content.decode()
    assert "It cannot run now" in refused and refused.count("No restart command") == 1  # said once
    assert "Restart one by one</button>" not in refused
    balancer_page = operator_client.get(demo.get_absolute_url()).content.decode()
    assert 'disabled aria-describedby="restart-refusal">Rolling restart</button>' in balancer_page
    assert "Rolling restart is not available" in balancer_page and "No restart command" in balancer_page
    posted = operator_client.post(url)
    assert posted.status_code == 400 and posted.content.decode().count("No restart command") == 1
    give_restart_command("zope1", "zope2", "backup")
    assert "restart-refusal" not in operator_client.get(demo.get_absolute_url()).content.decode()
    assert viewer_client.post(url).status_code == 403
    response = operator_client.post(url)
    job = RollingRestart.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    page = operator_client.get(job.get_absolute_url()).content.decode()
    assert "data-poll-url" in page and "zope1" in page and "Cancel" in page
    assert operator_client.get(f"/operations/restarts/{job.pk}/progress/").status_code == 200
    assert f"#{job.pk}" in operator_client.get("/operations/restarts/").content.decode()
    assert "Rolling restart" in operator_client.get(demo.get_absolute_url()).content.decode()


def test_manage_py_refuses_with_the_reason_and_cancel_works(demo, actor):
    with pytest.raises(CommandError, match="No restart command"):
        call_command("rolling_restart", "bronze", stdout=io.StringIO())
    give_restart_command("zope1", "zope2", "backup")
    out = io.StringIO()
    call_command("rolling_restart", "bronze", "--background", stdout=out)
    job = RollingRestart.objects.get()
    assert "Queued for the task worker" in out.getvalue() and job.status == RestartStatus.QUEUED
    call_command("rolling_restart", "--cancel", str(job.pk), stdout=io.StringIO())
    job.refresh_from_db()
    assert job.status == RestartStatus.CANCELLED
    with pytest.raises(RestartRefused):
        rolling_restart_cancel(job, actor=actor)
    assert Balancer.objects.get(name="bronze")  # untouched


def test_manage_py_sets_the_restart_settings_from_a_host_key_file(demo, tmp_path):
    key_file = tmp_path / "ssh_host_ed25519_key.pub"
    key_file.write_text(HOST_KEY + " root@zope1\n")
    out = io.StringIO()
    call_command(
        "zope_restart_settings", "zope1", "--restart-command", "sudo systemctl restart zope1",
        "--ssh-user", "zope", "--ssh-host-key-file", str(key_file), stdout=out,
    )  # fmt: skip
    ops = ZopeServerOps.objects.get(zope_server__name="zope1")
    assert (ops.restart_command, ops.ssh_user) == ("sudo systemctl restart zope1", "zope")
    assert ops.ssh_host_key == HOST_KEY + " root@zope1"
    assert "over SSH as zope@127.0.0.1:22, host key set" in out.getvalue()
    with pytest.raises(CommandError, match="ssh_port"):
        call_command("zope_restart_settings", "zope1", "--ssh-port", "70000", stdout=io.StringIO())
