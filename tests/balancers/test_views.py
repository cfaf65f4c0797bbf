"""The balancers pages and forms (members, Zope servers, balancers, front-ends, deployments, live
toggles): every form shows the shared validators' own message for a hostile value."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from balancers import services
from balancers import services as balancer_services
from balancers.models import (
    ActivatedRelease,
    BalancerMember,
    ConfigTree,
    Deployment,
    DeploymentHost,
    FrontEnd,
    ZopeServer,
)
from hostpanel import validators
from tests.assertions import message_of, shows


def test_toggling_a_member_to_hot_standby_asks_then_saves(operator_client, demo):
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    url = reverse("balancers:member_toggle", args=[demo.pk, member.pk, "hot_standby"])
    assert "Currently: <strong>active</strong>" in operator_client.get(url).content.decode()
    response = operator_client.post(url, follow=True)
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.hot_standby, member.drain, member.disabled) == (True, False, False)
    assert "is now: hot standby" in response.content.decode()
    operator_client.post(reverse("balancers:member_toggle", args=[demo.pk, member.pk, "active"]))
    member.refresh_from_db()
    assert member.state == "active"


def test_an_unknown_member_state_is_404(operator_client, demo):
    member = demo.members.first()
    assert (
        operator_client.post(reverse("balancers:member_toggle", args=[demo.pk, member.pk, "nuke"])).status_code == 404
    )


def test_the_member_form_shows_the_range_message(operator_client, demo):
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    url = reverse("balancers:member_update", args=[demo.pk, member.pk])
    data = {"lbset": "1", "loadfactor": "500", "timeout": "10", "retry": "60"}
    response = operator_client.post(url, data)
    assert "Ensure this value is less than or equal to 100." in response.content.decode()
    data["loadfactor"] = "7"
    assert operator_client.post(url, data).status_code == 302
    member.refresh_from_db()
    assert member.loadfactor == 7


def test_an_operator_adds_a_member(operator_client, demo):
    server = ZopeServer.objects.create(name="zope3", host="127.0.0.1", port=18999)
    data = {"zope_server": server.pk, "lbset": "1", "loadfactor": "2", "timeout": "10", "retry": "60"}
    assert operator_client.post(reverse("balancers:member_create", args=[demo.pk]), data).status_code == 302
    assert demo.members.filter(zope_server=server, loadfactor=2).exists()


def test_the_zope_server_form_shows_the_validator_messages(operator_client, db):
    data = {"name": "zope.1", "host": "10.0.0.1\nx", "port": "8080", "description": ""}
    response = operator_client.post(reverse("balancers:zopeserver_create"), data)
    assert shows(response, message_of(validators.validate_route, "zope.1"))
    assert shows(response, message_of(validators.validate_host, "10.0.0.1\nx"))
    assert not ZopeServer.objects.exists()


def test_the_balancer_form_shows_the_validator_message_for_a_hostile_error_page(operator_client, demo):
    url = reverse("balancers:balancer_update", args=[demo.pk])
    data = {
        "name": "bronze", "description": "", "lbmethod": "byrequests", "sticky_cookie": "BALANCEID",
        "cookie_ttl": "1200", "maxattempts": "2", "timeout": "20", "error_document": "/x</VirtualHost>",
        "render_mode": "single-pass",
    }  # fmt: skip
    response = operator_client.post(url, data)
    assert shows(response, message_of(validators.validate_url_path, "/x</VirtualHost>"))
    data["error_document"] = "/oops.html"
    assert operator_client.post(url, data).status_code == 302
    demo.refresh_from_db()
    assert demo.error_document == "/oops.html"


FRONTEND = {
    "name": "fe2", "address": "127.0.0.1", "transport": "local", "ssh_port": "22", "ssh_user": "hostpanel",
    "ssh_host_key": "", "config_dir": "/etc/apache2/hostpanel", "configtest_command": "apache2ctl configtest",
    "reload_command": "apache2ctl graceful", "balancer_manager_url": "", "manager_username": "",
    "manager_password": "", "health_url": "", "http_listen": "*:80", "https_listen": "*:443",
    "tls_edge": "apache", "edge_backend_listen": "127.0.0.1:8443",
    "node_address": "127.0.0.1", "node_port_base": "18080", "enabled": "on", "description": "",
}  # fmt: skip


def test_the_front_end_form_shows_the_validator_message_for_a_hostile_config_dir(db, django_user_model):
    root = Client()  # config_dir is a superuser's field (an operator's form has it disabled)
    root.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    response = root.post(reverse("balancers:frontend_create"), {**FRONTEND, "config_dir": "/etc/x</VirtualHost>"})
    assert shows(response, message_of(validators.validate_config_dir, "/etc/x</VirtualHost>"))
    assert not FrontEnd.objects.exists()


def test_the_front_end_password_is_kept_when_left_empty(operator_client, db):
    assert (
        operator_client.post(
            reverse("balancers:frontend_create"), {**FRONTEND, "manager_password": "s3cret"}
        ).status_code
        == 302
    )
    frontend = FrontEnd.objects.get(name="fe2")
    page = operator_client.get(reverse("balancers:frontend_update", args=[frontend.pk])).content.decode()
    assert "s3cret" not in page
    data = {**FRONTEND, "description": "edited"}
    assert operator_client.post(reverse("balancers:frontend_update", args=[frontend.pk]), data).status_code == 302
    frontend.refresh_from_db()
    assert (frontend.manager_password, frontend.description) == ("s3cret", "edited")


def test_the_front_end_test_connection_runs_the_real_checks_on_a_local_front_end(operator_client, db):
    frontend = FrontEnd.objects.create(
        name="fe3", address="127.0.0.1", transport="local", configtest_command="echo Syntax OK"
    )
    body = operator_client.post(reverse("balancers:frontend_test", args=[frontend.pk])).content.decode()
    assert "Syntax OK" in body
    assert "status-ok" in body and "status-failed" not in body


def test_the_front_end_test_connection_shows_each_step(operator_client, db, monkeypatch):
    steps = [
        {"name": "ssh login", "ok": True, "detail": "ok"},
        {"name": "configtest", "ok": False, "detail": "AH00526"},
    ]
    monkeypatch.setattr("balancers.services.readiness.frontend_test_connection", lambda frontend, **kw: steps)
    frontend = FrontEnd.objects.create(name="fe4", address="127.0.0.1", transport="local")
    body = operator_client.post(reverse("balancers:frontend_test", args=[frontend.pk])).content.decode()
    assert "ssh login" in body and "AH00526" in body and "failed" in body


def test_deleting_a_zope_server_in_use_shows_the_protected_message(operator_client, demo):
    server = ZopeServer.objects.get(name="zope1")
    response = operator_client.post(reverse("balancers:zopeserver_delete", args=[server.pk]))
    assert "cannot be deleted while it is used by" in response.content.decode()
    assert ZopeServer.objects.filter(name="zope1").exists()


def test_deploy_now_shows_each_front_end_diff_and_starts_a_deployment(operator_client, db, monkeypatch):
    frontend = FrontEnd.objects.create(name="fe5", address="127.0.0.1", transport="local")
    started = []

    def start(*, actor, trigger, accept_differences):
        started.append((actor.name, actor.source, trigger, accept_differences))
        return Deployment.objects.create(actor=actor.name, status="queued")

    monkeypatch.setattr(
        "balancers.selectors.deployments.frontend_pending_diff",
        lambda fe, tree=None: "--- a/sites/x.conf\n+++ b/sites/x.conf\n+ServerName x.example.com\n",
    )
    monkeypatch.setattr(services, "deployment_start", start)
    page = operator_client.get(reverse("balancers:deploy_now")).content.decode()
    assert "fe5" in page and "+ServerName x.example.com" in page
    response = operator_client.post(reverse("balancers:deploy_now"))
    deployment = Deployment.objects.get()
    assert response["Location"] == deployment.get_absolute_url()
    assert started == [("olga", "web", "manual", False)]
    assert frontend.pk


def test_rolling_back_calls_the_deploy_module_and_shows_its_refusal(operator_client, db, monkeypatch):
    old = Deployment.objects.create(actor="x", status="succeeded")

    def rollback(deployment, *, actor):
        if deployment.pk == old.pk and not deployment.hosts.exists():
            raise ValueError(f"deployment #{deployment.pk} has no stored tree to roll back to")
        return Deployment.objects.create(actor=actor.name, trigger="rollback", rollback_of=deployment)

    monkeypatch.setattr(services, "deployment_rollback", rollback)
    url = reverse("balancers:deployment_rollback", args=[old.pk])
    response = operator_client.post(url)
    assert "has no stored tree to roll back to" in response.content.decode()
    assert not Deployment.objects.filter(rollback_of=old).exists()

    frontend = FrontEnd.objects.create(name="fe", address="127.0.0.1", transport="local")
    tree = ConfigTree.objects.create(digest="c" * 64, files={"sites/a.conf": "ServerName a.example.com\n"})
    DeploymentHost.objects.create(deployment=old, frontend=frontend, frontend_name="fe", tree=tree, status="succeeded")
    newer = ConfigTree.objects.create(digest="d" * 64, files={"sites/b.conf": "ServerName b.example.com\n"})
    ActivatedRelease.objects.create(frontend=frontend, tree=newer, digest=newer.digest)  # what fe serves now
    response = operator_client.post(url)
    new = Deployment.objects.get(rollback_of=old)
    assert response["Location"] == new.get_absolute_url()


def test_the_deployment_page_shows_the_diff_against_the_previous_revision(operator_client, db):
    t1 = ConfigTree.objects.create(digest="a" * 64, files={"sites/a.conf": "ServerName a.example.com\n"})
    t2 = ConfigTree.objects.create(
        digest="b" * 64, files={"sites/a.conf": "ServerName a.example.com\n", "sites/b.conf": "ServerName b\n"}
    )
    d1 = Deployment.objects.create(actor="x", status="succeeded")
    DeploymentHost.objects.create(deployment=d1, frontend_name="fe", tree=t1, status="succeeded")
    d2 = Deployment.objects.create(actor="x", status="succeeded")
    DeploymentHost.objects.create(deployment=d2, frontend_name="fe", tree=t2, status="succeeded")
    body = operator_client.get(d2.get_absolute_url()).content.decode()
    assert "+++ b/sites/b.conf" in body and "+ServerName b" in body
    assert "sites/a.conf" not in body  # unchanged files are not shown


def test_a_toggle_shows_each_front_ends_live_result(operator_client, demo, monkeypatch):

    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    calls = []

    def set_flags(m, *, actor, force=False, **flags):
        calls.append((m.pk, actor.source, force, flags))
        balancer_services.member_update(m, actor=actor, **flags)
        return SimpleNamespace(
            member=m,
            deployment=None,
            frontends=[
                SimpleNamespace(frontend_name="fe-a", applied=True, reason="", live_status="Ok Drn"),
                SimpleNamespace(frontend_name="fe-b", applied=False, reason="connection refused", live_status=""),
            ],
        )

    monkeypatch.setattr(balancer_services, "member_set_flags", set_flags, raising=False)
    response = operator_client.post(reverse("balancers:member_toggle", args=[demo.pk, member.pk, "drain"]))
    body = response.content.decode()
    assert calls == [(member.pk, "web", False, {"hot_standby": False, "drain": True, "disabled": False})]
    assert "fe-a" in body and "Ok Drn" in body
    assert "fe-b" in body and "connection refused" in body and "failed" in body
    assert "is now <strong>drain</strong>" in body


def test_a_refused_toggle_shows_the_reason_and_can_be_forced(operator_client, demo, monkeypatch):

    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")

    def set_flags(m, *, actor, force=False, **flags):
        if not force:
            raise ValidationError("No other member of bronze would take traffic.")
        return SimpleNamespace(member=m, deployment=None, frontends=[])

    monkeypatch.setattr(balancer_services, "member_set_flags", set_flags, raising=False)
    url = reverse("balancers:member_toggle", args=[demo.pk, member.pk, "disabled"])
    assert "No other member of bronze would take traffic." in operator_client.post(url).content.decode()
    assert "is now" in operator_client.post(url, {"force": "on"}).content.decode()


def test_test_connection_runs_the_deploy_modules_steps_on_a_local_front_end(operator_client, db, tmp_path):
    pytest.importorskip("deploy")
    frontend = FrontEnd.objects.create(
        name="fe-local",
        address="127.0.0.1",
        transport="local",
        config_dir=str(tmp_path / "conf"),
        configtest_command="/bin/false",
        reload_command="/bin/true",
    )
    body = operator_client.post(reverse("balancers:frontend_test", args=[frontend.pk])).content.decode()
    steps = body.split('id="test-steps"')[1].split("</ol>")[0]
    assert '<strong>connect</strong>: <span class="status status-ok">OK</span>' in steps
    assert "does not exist yet" in steps
    assert '<strong>configtest</strong>: <span class="status status-failed">failed</span>' in steps


def test_the_zope_server_form_saves_its_health_check_and_refuses_a_hostile_path(operator_client, db):
    data = {
        "name": "zope9", "host": "10.0.0.9", "port": "8080", "description": "", "health_path": "/ok",
        "health_method": "HEAD", "health_interval": "3", "health_passes": "2", "health_fails": "4",
    }  # fmt: skip
    hostile = {**data, "health_path": "/ok hcexpr=x"}
    response = operator_client.post(reverse("balancers:zopeserver_create"), hostile)
    assert shows(response, message_of(validators.validate_health_path, "/ok hcexpr=x"))
    assert not ZopeServer.objects.exists()
    assert operator_client.post(reverse("balancers:zopeserver_create"), data).status_code == 302
    server = ZopeServer.objects.get(name="zope9")
    assert (server.health_path, server.health_method, server.health_interval) == ("/ok", "HEAD", 3)
    assert (server.health_passes, server.health_fails) == (2, 4)
    page = operator_client.get(reverse("balancers:zopeserver_detail", args=[server.pk])).content.decode()
    assert "HEAD /ok</code> every 3 s" in page and "Checked by no front-end" in page
