"""Power matches the role: the local transport (commands and files on the panel's own host) exists only
when HOSTPANEL_LOCAL_TRANSPORT enables it, and the shell commands a deployment runs on a front-end are
set by superusers only, whatever the door (services, web form, admin) — and so is config_dir, the directory
every deploy replaces on the front-end."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from balancers import services
from balancers.models import FrontEnd
from balancers.selectors.deployments import pending_changes
from deploy.transport.pool import open_transport
from deploy.transport.protocol import TransportError
from hostpanel.audit import Actor
from tests.samples import ROOT

PANEL_SETTINGS_DIR = str(ROOT / "hostpanel")


@pytest.fixture
def local_off(settings):
    settings.HOSTPANEL_LOCAL_TRANSPORT = False
    return settings


def test_a_local_front_end_is_refused_when_the_setting_is_off(db, actor, local_off):
    with pytest.raises(ValidationError) as refused:
        services.frontend_create(actor=actor, name="fe1", address="127.0.0.1", transport="local")
    assert "HOSTPANEL_LOCAL_TRANSPORT" in " ".join(refused.value.message_dict["transport"])
    assert not FrontEnd.objects.exists()


def test_a_planted_local_front_end_is_never_opened_when_the_setting_is_off(db, local_off):
    frontend = FrontEnd.objects.create(name="fe1", address="127.0.0.1", transport="local")  # past validation
    with pytest.raises(TransportError, match="local transport is off"):
        open_transport(frontend)


def test_the_pending_preview_never_reads_panel_files_through_a_local_config_dir(demo, local_off):
    FrontEnd.objects.create(name="fe1", address="127.0.0.1", transport="local", config_dir=PANEL_SETTINGS_DIR)
    [entry] = pending_changes()
    assert "local transport is off" in entry["error"]
    assert entry["lines"] == [] and "SECRET_KEY" not in str(entry)


def test_with_the_setting_on_the_preview_names_the_files_of_a_local_config_dir_but_never_shows_them(demo, settings):
    # the same front-end with the setting on (the demo): the files are read, but none is HostPanel's (no
    # MANIFEST lists it), so the preview names them and shows no line of theirs
    settings.HOSTPANEL_LOCAL_TRANSPORT = True
    FrontEnd.objects.create(name="fe1", address="127.0.0.1", transport="local", config_dir=PANEL_SETTINGS_DIR)
    [entry] = pending_changes()
    lines = "\n".join(entry["lines"])
    assert "--- live/settings.py\n+++ /dev/null\n(not written by HostPanel: its content is not shown)" in lines
    assert "SECRET_KEY" not in lines and "import" not in lines


# --- command fields: superusers only --------------------------------------------------------------


def test_an_operator_may_not_set_a_command_but_a_superuser_and_the_shell_may(db, operator, django_user_model):
    as_operator = Actor.from_user(operator, source="web")
    with pytest.raises(ValidationError) as refused:
        services.frontend_create(
            actor=as_operator, name="fe1", address="127.0.0.1", transport="local", configtest_command="id > /tmp/x"
        )
    assert refused.value.message_dict["configtest_command"] == ["Only a superuser may change a command."]
    frontend = services.frontend_create(actor=as_operator, name="fe1", address="127.0.0.1", transport="local")
    with pytest.raises(ValidationError):
        services.frontend_update(frontend, actor=as_operator, reload_command="id")
    services.frontend_update(
        frontend,
        actor=as_operator,
        description="unchanged commands are fine",
        configtest_command=frontend.configtest_command,
    )
    root = django_user_model.objects.create_superuser("root", password="pw")
    services.frontend_update(frontend, actor=Actor.from_user(root, source="web"), reload_command="echo reload")
    services.frontend_update(frontend, actor=Actor.command(), configtest_command="echo ok")
    frontend.refresh_from_db()
    assert (frontend.configtest_command, frontend.reload_command) == ("echo ok", "echo reload")


def test_only_a_superuser_or_the_shell_may_choose_config_dir(db, operator, django_user_model, tmp_path):
    as_operator = Actor.from_user(operator, source="web")
    with pytest.raises(ValidationError) as refused:
        services.frontend_create(
            actor=as_operator, name="fe1", address="127.0.0.1", transport="local", config_dir=str(tmp_path)
        )
    assert refused.value.message_dict["config_dir"] == [
        "Only a superuser may change config_dir (the directory each deploy replaces on the front-end)."
    ]
    # a new front-end with the default config_dir (given or not) is the operator's to make
    frontend = services.frontend_create(
        actor=as_operator, name="fe1", address="127.0.0.1", transport="local", config_dir="/etc/apache2/hostpanel"
    )
    with pytest.raises(ValidationError) as refused:
        services.frontend_update(frontend, actor=as_operator, config_dir="/home/hostpanel/.ssh")
    assert list(refused.value.message_dict) == ["config_dir"]
    with pytest.raises(ValidationError):
        services.frontend_update(frontend, actor=Actor(name="billing-app", source="api"), config_dir="/var/www")
    root = django_user_model.objects.create_superuser("root", password="pw")
    services.frontend_update(frontend, actor=Actor.from_user(root, source="web"), config_dir="/etc/apache2/hp")
    frontend.refresh_from_db()
    assert frontend.config_dir == "/etc/apache2/hp"
    services.frontend_update(frontend, actor=Actor.command(), config_dir="/srv/hp")
    frontend.refresh_from_db()
    assert frontend.config_dir == "/srv/hp"


def frontend_form(**overrides) -> dict:
    data = {
        "name": "fe2", "address": "127.0.0.1", "transport": "local", "ssh_port": "22", "ssh_user": "hostpanel",
        "config_dir": "/srv/hp", "configtest_command": "id > /tmp/pwned", "reload_command": "id > /tmp/pwned",
        "http_listen": "*:80", "https_listen": "*:443",
        "tls_edge": "apache", "edge_backend_listen": "127.0.0.1:8443",
        "node_address": "127.0.0.1", "node_port_base": "18080",
        "enabled": "on",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_the_web_form_shows_the_commands_but_only_a_superuser_changes_them(db, operator_client, django_user_model):
    page = operator_client.get(reverse("balancers:frontend_create")).content.decode()
    assert "Only a superuser may change the commands" in page
    response = operator_client.post(reverse("balancers:frontend_create"), frontend_form())
    assert response.status_code == 302
    frontend = FrontEnd.objects.get(name="fe2")
    assert frontend.configtest_command == "sudo apache2ctl configtest"  # the default, not what was posted
    assert frontend.reload_command == "sudo apache2ctl graceful"
    assert frontend.config_dir == "/etc/apache2/hostpanel"  # the default, not the posted /srv/hp
    root = Client()
    root.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    root.post(reverse("balancers:frontend_update", args=[frontend.pk]), frontend_form(configtest_command="echo ok"))
    frontend.refresh_from_db()
    assert (frontend.configtest_command, frontend.config_dir) == ("echo ok", "/srv/hp")


def test_the_admin_shows_commands_read_only_to_staff_and_never_shows_the_manager_password(db, actor, django_user_model):
    frontend = services.frontend_create(
        actor=actor, name="fe1", address="127.0.0.1", transport="local", manager_password="s3cret-pass"
    )
    staff = django_user_model.objects.create_user("staffer", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["change_frontend", "view_frontend"]))
    client = Client()
    client.force_login(staff)
    url = f"/admin/balancers/frontend/{frontend.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="configtest_command"' not in page and "sudo apache2ctl configtest" in page  # shown, read-only
    assert 'name="config_dir"' not in page and "/etc/apache2/hostpanel" in page
    assert "s3cret-pass" not in page
    form = {k: v for k, v in frontend_form(name="fe1").items() if k not in ("configtest_command", "reload_command")}
    form |= {"configtest_command": "id > /tmp/pwned", "manager_password": ""}
    assert client.post(url, form).status_code == 302
    frontend.refresh_from_db()
    assert frontend.configtest_command == "sudo apache2ctl configtest"
    assert frontend.config_dir == "/etc/apache2/hostpanel"  # the posted /srv/hp is not the staffer's to set
    assert frontend.manager_password == "s3cret-pass"  # an empty password field keeps the stored one


# --- the balancer-manager password follows its host -----------------------------------------------


@pytest.fixture
def managed(db, actor):
    return services.frontend_create(
        actor=actor,
        name="fe1",
        address="127.0.0.1",
        transport="local",
        balancer_manager_url="http://10.0.0.5/balancer-manager",
        manager_username="admin",
        manager_password="s3cret-pass",
    )


def test_moving_the_manager_url_to_another_host_scheme_or_port_clears_the_password(managed, actor):
    for url in ("http://10.0.0.5/balancer-manager?x", "http://10.0.0.5:80/other-path"):
        services.frontend_update(managed, actor=actor, balancer_manager_url=url)
        assert FrontEnd.objects.get(pk=managed.pk).manager_password == "s3cret-pass"  # same origin: kept
    for url in ("http://evil.example/balancer-manager", "https://10.0.0.5/bm", "http://10.0.0.5:8080/bm"):
        services.frontend_update(managed, actor=actor, manager_password="s3cret-pass")
        services.frontend_update(managed, actor=actor, balancer_manager_url=url)
        assert FrontEnd.objects.get(pk=managed.pk).manager_password == "", url


def test_a_new_password_given_with_the_new_url_is_kept(managed, actor):
    services.frontend_update(
        managed, actor=actor, balancer_manager_url="http://10.0.0.6/balancer-manager", manager_password="new-one"
    )
    assert FrontEnd.objects.get(pk=managed.pk).manager_password == "new-one"


def test_the_web_form_with_an_empty_password_field_clears_it_when_the_host_changes(managed, django_user_model):
    root = Client()
    root.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    form = frontend_form(name="fe1", configtest_command=managed.configtest_command)
    form |= {"reload_command": managed.reload_command, "manager_username": "admin", "manager_password": ""}
    url = reverse("balancers:frontend_update", args=[managed.pk])
    root.post(url, form | {"balancer_manager_url": "http://10.0.0.5/balancer-manager"})
    assert FrontEnd.objects.get(pk=managed.pk).manager_password == "s3cret-pass"
    root.post(url, form | {"balancer_manager_url": "http://evil.example/balancer-manager"})
    assert FrontEnd.objects.get(pk=managed.pk).manager_password == ""
