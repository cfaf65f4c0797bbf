"""The panel's forms: operators can change things, and every form shows the shared validators'
own message for a hostile value (the forms only translate; the services validate)."""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from balancers.models import BalancerMember, FrontEnd, ZopeServer
from hostpanel import validators
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import Site

NEWLINE_DOMAIN = "evil.example.com\nInclude /etc/passwd"
VHOST_PATH = "/plone/x</VirtualHost>"


def message_of(validator, value) -> str:
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value.messages[0]


def shows(response, message: str) -> bool:
    return html.escape(message) in response.content.decode() or message in response.content.decode()


SITE_DATA = {"domain": "new.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/new"}


# --- sites ------------------------------------------------------------------------------------


def test_an_operator_adds_a_site_with_aliases_one_per_line(operator_client, demo):
    data = {**SITE_DATA, "aliases": "www.new.example.com\r\nshop.new.example.com\r\n", "customer_ref": "C-1"}
    response = operator_client.post(reverse("sites:site_create"), data)
    assert response.status_code == 302
    site = Site.objects.get(domain="new.example.com")
    assert sorted(site.aliases.values_list("name", flat=True)) == ["shop.new.example.com", "www.new.example.com"]
    entry = AuditEntry.objects.get(action="site.create", object_key="new.example.com")
    assert (entry.actor, entry.source) == ("olga", "web")


def test_the_site_form_shows_the_validator_message_for_a_newline_in_the_domain(operator_client, demo):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "domain": NEWLINE_DOMAIN})
    assert response.status_code == 200
    assert shows(response, message_of(validators.normalize_hostname, NEWLINE_DOMAIN))
    assert "A host name must not contain a newline." in response.content.decode()
    assert not Site.objects.filter(plone_path="/plone/new").exists()


def test_the_site_form_shows_the_validator_message_for_a_closing_vhost_tag_in_the_path(operator_client, demo):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "plone_path": VHOST_PATH})
    assert shows(response, message_of(validators.validate_plone_path, VHOST_PATH))
    assert 'class="field field-invalid"' in response.content.decode()


def test_the_site_form_shows_a_bad_alias_under_the_aliases_field(operator_client, demo):
    response = operator_client.post(
        reverse("sites:site_create"), {**SITE_DATA, "aliases": "ok.example.com\nbad<alias>.example.com"}
    )
    body = response.content.decode()
    assert "must not contain" in body
    assert not Site.objects.filter(domain="new.example.com").exists()


def test_an_operator_edits_a_site_and_its_aliases(operator_client, demo):
    url = reverse("sites:site_update", args=["linux.co.uk"])
    assert "www.linux.co.uk" in operator_client.get(url).content.decode()
    data = {"domain": "linux.co.uk", "aliases": "linux.example.net", "balancer": "silver", "plone_path": "/plone/lx"}
    assert operator_client.post(url, data).status_code == 302
    site = Site.objects.get(domain="linux.co.uk")
    assert (site.balancer.name, site.plone_path) == ("silver", "/plone/lx")
    assert list(site.aliases.values_list("name", flat=True)) == ["linux.example.net"]


def test_the_edit_form_shows_the_validator_message_for_a_hostile_path(operator_client, demo):
    url = reverse("sites:site_update", args=["linux.co.uk"])
    data = {"domain": "linux.co.uk", "aliases": "", "balancer": "bronze", "plone_path": VHOST_PATH}
    response = operator_client.post(url, data)
    assert shows(response, message_of(validators.validate_plone_path, VHOST_PATH))
    assert Site.objects.get(domain="linux.co.uk").plone_path == "/plone/linux"


def test_an_operator_suspends_with_a_reason_and_unsuspends(operator_client, demo):
    response = operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "unpaid"})
    assert response.status_code == 302
    site = Site.objects.get(domain="linux.co.uk")
    assert (site.status, site.suspended_reason) == ("suspended", "unpaid")
    assert "Unsuspend" in operator_client.get(site.get_absolute_url()).content.decode()
    operator_client.post(reverse("sites:site_unsuspend", args=["linux.co.uk"]))
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_the_suspend_form_shows_the_validator_message_for_a_newline_in_the_reason(operator_client, demo):
    response = operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "a\nb"})
    assert shows(response, message_of(validators.validate_no_control_characters, "a\nb"))
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_deleting_a_site_asks_first_then_deletes(operator_client, demo):
    url = reverse("sites:site_delete", args=["linux.co.uk"])
    page = operator_client.get(url).content.decode()
    assert "Delete linux.co.uk" in page
    assert Site.objects.filter(domain="linux.co.uk").exists()
    assert operator_client.post(url).status_code == 302
    assert not Site.objects.filter(domain="linux.co.uk").exists()


def test_the_sites_list_finds_a_site_by_alias_and_by_customer_ref(operator_client, demo):
    url = reverse("sites:site_list")
    assert "linux.co.uk" in operator_client.get(url, {"q": "www.linux"}).content.decode()
    assert "linux.co.uk" in operator_client.get(url, {"q": "demo-0001"}).content.decode()
    assert "linux.co.uk" not in operator_client.get(url, {"q": "nomatch"}).content.decode().split("<tbody>")[1]
    assert "linux.co.uk" not in operator_client.get(url, {"status": "suspended"}).content.decode().split("<tbody>")[1]
    assert "linux.co.uk" not in operator_client.get(url, {"balancer": "silver"}).content.decode().split("<tbody>")[1]


def test_the_sites_list_sorts_and_paginates_by_50(operator_client, demo):
    Site.objects.bulk_create(Site(domain=f"s{i:03d}.example.com", balancer=demo, plone_path="/p") for i in range(120))
    body = operator_client.get(reverse("sites:site_list"), {"sort": "-domain", "page": 3}).content.decode()
    rows = body.split("<tbody>")[1].count("<tr>")
    assert rows == 21  # 121 sites: 50 + 50 + 21
    assert "Page 3 of 3" in body
    first = operator_client.get(reverse("sites:site_list"), {"sort": "-domain"}).content.decode()
    assert first.index("s119.example.com") < first.index("s118.example.com")


# --- CSV import -------------------------------------------------------------------------------

HEADER = "domain,aliases,balancer,plone_path,customer_ref\n"


def test_the_import_preview_shows_per_row_errors_and_imports_nothing(operator_client, demo):
    csv_text = (
        HEADER + "a.example.com,www.a.example.com,bronze,/plone/a,C1\nb.example.com,,bronze,/p</VirtualHost>,C2\n"
    )
    response = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "preview"})
    body = response.content.decode()
    assert "1 of 2 row(s) have errors" in body
    assert html.escape(message_of(validators.validate_plone_path, "/p</VirtualHost>")) in body
    assert "Import 2 site(s)" not in body
    # even a forced import saves nothing while a row is bad
    operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "import"})
    assert not Site.objects.filter(domain__in=["a.example.com", "b.example.com"]).exists()
    assert not AuditEntry.objects.filter(object_key="a.example.com").exists()


def test_a_good_import_is_previewed_then_saved(operator_client, demo):
    csv_text = (
        HEADER + "a.example.com,www.a.example.com;a.example.org,bronze,/plone/a,C1\nb.example.com,,silver,/plone/b,\n"
    )
    preview = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "preview"})
    assert "Import 2 site(s)" in preview.content.decode()
    assert not Site.objects.filter(domain="a.example.com").exists()
    response = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "import"})
    assert response.status_code == 302
    a = Site.objects.get(domain="a.example.com")
    assert sorted(a.aliases.values_list("name", flat=True)) == ["a.example.org", "www.a.example.com"]
    assert Site.objects.get(domain="b.example.com").balancer.name == "silver"


def test_the_import_accepts_an_uploaded_file(operator_client, demo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sites.csv", (HEADER + "c.example.com,,bronze,/plone/c,\n").encode())
    response = operator_client.post(reverse("sites:site_import"), {"csv_file": upload, "action": "preview"})
    assert "All 1 row(s) are valid" in response.content.decode()


def test_site_import_is_all_or_nothing_and_catches_duplicates_between_rows(demo, actor):
    rows = [
        {"domain": "x.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/x", "customer_ref": ""},
        {"domain": "y.example.com", "aliases": "x.example.com", "balancer": "nope", "plone_path": "/p"},
        {"domain": "X.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/x2"},
    ]
    result = site_services.site_import(rows, actor=actor)
    assert not result.imported
    assert [bool(r.errors) for r in result.rows] == [False, True, True]
    assert "balancer" in result.rows[1].errors and "aliases" in result.rows[1].errors
    assert "domain" in result.rows[2].errors  # same domain as row 1 once lower-cased
    assert not Site.objects.filter(domain="x.example.com").exists()
    ok = site_services.site_import(rows[:1], actor=actor)
    assert ok.imported and Site.objects.filter(domain="x.example.com").exists()


def test_site_import_dry_run_saves_nothing(demo, actor):
    rows = [{"domain": "z.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/z"}]
    result = site_services.site_import(rows, actor=actor, dry_run=True)
    assert result.error_count == 0 and not result.imported
    assert not Site.objects.filter(domain="z.example.com").exists()


# --- balancers, members, Zope servers, front-ends -----------------------------------------------


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
    "manager_password": "", "health_url": "", "http_listen": "*:80", "node_address": "127.0.0.1",
    "node_port_base": "18080", "enabled": "on", "description": "",
}  # fmt: skip


def test_the_front_end_form_shows_the_validator_message_for_a_hostile_config_dir(operator_client, db):
    response = operator_client.post(
        reverse("balancers:frontend_create"), {**FRONTEND, "config_dir": "/etc/x</VirtualHost>"}
    )
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
    from balancers import deploy

    steps = [
        {"name": "ssh login", "ok": True, "detail": "ok"},
        {"name": "configtest", "ok": False, "detail": "AH00526"},
    ]
    monkeypatch.setattr(deploy, "frontend_test_connection", lambda frontend: steps)
    frontend = FrontEnd.objects.create(name="fe4", address="127.0.0.1", transport="local")
    body = operator_client.post(reverse("balancers:frontend_test", args=[frontend.pk])).content.decode()
    assert "ssh login" in body and "AH00526" in body and "failed" in body


def test_deleting_a_zope_server_in_use_shows_the_protected_message(operator_client, demo):
    server = ZopeServer.objects.get(name="zope1")
    response = operator_client.post(reverse("balancers:zopeserver_delete", args=[server.pk]))
    assert "cannot be deleted while it is used by" in response.content.decode()
    assert ZopeServer.objects.filter(name="zope1").exists()


# --- audit -------------------------------------------------------------------------------------


def test_the_audit_log_filters_by_actor_action_object_type_and_date(operator_client, demo):
    operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "unpaid"})
    url = reverse("audit_list")
    body = operator_client.get(url, {"actor": "olga", "action": "site.suspend", "object_type": "site"}).content.decode()
    assert "site.suspend" in body and "unpaid" in body
    assert "site.create" not in body.split("<tbody>")[1]
    today = AuditEntry.objects.first().timestamp.date().isoformat()
    assert "site.suspend" in operator_client.get(url, {"date_from": today, "date_to": today}).content.decode()
    assert (
        "site.suspend" not in operator_client.get(url, {"date_to": "2000-01-01"}).content.decode().split("<tbody>")[1]
    )


# --- deployments ---------------------------------------------------------------------------------


def test_deploy_now_shows_each_front_end_diff_and_starts_a_deployment(operator_client, db, monkeypatch):
    from balancers import deploy
    from balancers.models import Deployment

    frontend = FrontEnd.objects.create(name="fe5", address="127.0.0.1", transport="local")
    started = []

    def start(*, actor, trigger):
        started.append((actor.name, actor.source, trigger))
        return Deployment.objects.create(actor=actor.name, status="queued")

    monkeypatch.setattr(
        deploy,
        "frontend_pending_diff",
        lambda fe: "--- a/sites/x.conf\n+++ b/sites/x.conf\n+ServerName x.example.com\n",
    )
    monkeypatch.setattr(deploy, "deployment_start", start)
    page = operator_client.get(reverse("balancers:deploy_now")).content.decode()
    assert "fe5" in page and "+ServerName x.example.com" in page
    response = operator_client.post(reverse("balancers:deploy_now"))
    deployment = Deployment.objects.get()
    assert response["Location"] == deployment.get_absolute_url()
    assert started == [("olga", "web", "manual")]
    assert frontend.pk


def test_rolling_back_calls_the_deploy_module_and_shows_its_refusal(operator_client, db, monkeypatch):
    from balancers import deploy
    from balancers.models import Deployment

    old = Deployment.objects.create(actor="x", status="succeeded")

    def rollback(deployment, *, actor):
        if deployment.pk == old.pk and not deployment.hosts.exists():
            raise ValueError(f"deployment #{deployment.pk} has no stored tree to roll back to")
        return Deployment.objects.create(actor=actor.name, trigger="rollback", rollback_of=deployment)

    monkeypatch.setattr(deploy, "deployment_rollback", rollback)
    url = reverse("balancers:deployment_rollback", args=[old.pk])
    response = operator_client.post(url)
    assert "has no stored tree to roll back to" in response.content.decode()
    from balancers.models import DeploymentHost

    DeploymentHost.objects.create(deployment=old, frontend_name="fe", status="succeeded")
    response = operator_client.post(url)
    new = Deployment.objects.get(rollback_of=old)
    assert response["Location"] == new.get_absolute_url()


def test_the_deployment_page_shows_the_diff_against_the_previous_revision(operator_client, db):
    from balancers.models import ConfigTree, Deployment, DeploymentHost

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


def test_the_sites_list_escapes_what_it_shows(operator_client, demo):
    Site.objects.filter(domain="linux.co.uk").update(customer_ref="<script>alert(1)</script>")
    body = operator_client.get(reverse("sites:site_list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_toggle_shows_each_front_ends_live_result(operator_client, demo, monkeypatch):
    from types import SimpleNamespace

    from balancers import services as balancer_services

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
    from types import SimpleNamespace

    from balancers import services as balancer_services

    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")

    def set_flags(m, *, actor, force=False, **flags):
        if not force:
            raise ValidationError("No other member of bronze would take traffic.")
        return SimpleNamespace(member=m, deployment=None, frontends=[])

    monkeypatch.setattr(balancer_services, "member_set_flags", set_flags, raising=False)
    url = reverse("balancers:member_toggle", args=[demo.pk, member.pk, "disabled"])
    assert "No other member of bronze would take traffic." in operator_client.post(url).content.decode()
    assert "is now" in operator_client.post(url, {"force": "on"}).content.decode()


def test_an_import_queues_one_automatic_deployment_and_a_failed_one_none(demo, actor, settings):
    pytest.importorskip("balancers.deploy")
    from balancers.models import Deployment

    settings.HOSTPANEL_AUTO_DEPLOY = True
    row = {"aliases": "", "balancer": "bronze", "customer_ref": ""}
    bad = [
        {**row, "domain": "p.example.com", "plone_path": "/p"},
        {**row, "domain": "q.example.com", "plone_path": "<"},
    ]
    assert not site_services.site_import(bad, actor=actor).imported
    assert Deployment.objects.count() == 0
    good = [{**row, "domain": f"r{i}.example.com", "plone_path": "/plone/r"} for i in range(3)]
    result = site_services.site_import(good, actor=actor)
    assert result.imported
    assert Deployment.objects.count() == 1
    assert result.deployment == Deployment.objects.get()


def test_test_connection_runs_the_deploy_modules_steps_on_a_local_front_end(operator_client, db, tmp_path):
    pytest.importorskip("balancers.deploy")
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
