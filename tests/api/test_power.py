"""Through the API an operator token manages front-ends but never chooses what runs on a host: the shell
commands are read-only (readOnly in the schema), config_dir (the directory each deploy replaces) is
refused with a 400 naming it unless a superuser's session sends it, and the local transport is refused
unless the panel enables it (HOSTPANEL_LOCAL_TRANSPORT). The reproduced defect: an operator token posting a local
front-end with configtest_command="id > FILE" had the automatic deployment run it on the panel host."""

from __future__ import annotations

from rest_framework.test import APIClient

from balancers.models import FrontEnd
from tests.factories import make_local_frontend

CONFIG_DIR_REFUSED = ["Only a superuser may change config_dir (the directory each deploy replaces on the front-end)."]


def test_an_operator_token_cannot_make_the_panel_host_run_its_command(demo, operator, settings, tmp_path, monkeypatch):
    settings.HOSTPANEL_LOCAL_TRANSPORT = True  # even where the demo turned it on
    settings.HOSTPANEL_AUTO_DEPLOY = True  # and the automatic deployment runs at once (immediate backend)
    # the default config_dir, the one a token may use, kept off the test machine's /etc
    monkeypatch.setattr(FrontEnd._meta.get_field("config_dir"), "default", str(tmp_path / "hp"))
    proof = tmp_path / "pwned"
    body = {
        "name": "fe1",
        "address": "127.0.0.1",
        "transport": "local",
        "configtest_command": f"id > {proof}",
        "reload_command": f"id > {proof}",
    }
    refused = operator.post("/api/v1/frontends/", {**body, "config_dir": str(tmp_path / "var")}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"] == {"config_dir": CONFIG_DIR_REFUSED}
    assert not FrontEnd.objects.filter(name="fe1").exists()
    response = operator.post("/api/v1/frontends/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["config_dir"] == str(tmp_path / "hp")
    assert response.json()["configtest_command"] == "sudo apache2ctl configtest"  # ignored: read-only
    assert FrontEnd.objects.get(name="fe1").reload_command == "sudo apache2ctl graceful"
    assert not proof.exists()
    changed = operator.patch("/api/v1/frontends/fe1/", {"configtest_command": f"id > {proof}"}, format="json")
    assert changed.status_code == 200 and changed.json()["configtest_command"] == "sudo apache2ctl configtest"
    assert not proof.exists()


def test_an_operator_token_cannot_point_config_dir_elsewhere_but_a_superusers_session_can(
    demo, operator, django_user_model, settings, tmp_path
):
    settings.HOSTPANEL_AUTO_DEPLOY = False
    name = make_local_frontend(tmp_path).name
    url = f"/api/v1/frontends/{name}/"
    before = FrontEnd.objects.get(name=name).config_dir
    refused = operator.patch(url, {"config_dir": "/home/hostpanel/.ssh"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"config_dir": CONFIG_DIR_REFUSED}
    assert FrontEnd.objects.get(name=name).config_dir == before
    assert operator.patch(url, {"config_dir": before, "description": "same dir"}, format="json").status_code == 200
    root = APIClient()
    root.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    allowed = root.patch(url, {"config_dir": "/etc/apache2/hostpanel-next"}, format="json")
    assert allowed.status_code == 200, allowed.json()
    assert FrontEnd.objects.get(name=name).config_dir == "/etc/apache2/hostpanel-next"


def test_the_local_transport_is_refused_by_the_api_when_the_setting_is_off(demo, operator, settings):
    settings.HOSTPANEL_LOCAL_TRANSPORT = False
    response = operator.post(
        "/api/v1/frontends/", {"name": "fe1", "address": "127.0.0.1", "transport": "local"}, format="json"
    )
    assert response.status_code == 400
    assert "HOSTPANEL_LOCAL_TRANSPORT" in " ".join(response.json()["errors"]["transport"])


def test_the_schema_says_the_commands_are_read_only(db, client):
    schema = client.get("/api/v1/schema/?format=json").json()
    answer = schema["components"]["schemas"]["FrontEnd"]["properties"]
    request = schema["components"]["schemas"]["FrontEndRequest"]["properties"]
    assert answer["configtest_command"]["readOnly"] is True and answer["reload_command"]["readOnly"] is True
    assert "configtest_command" not in request and "reload_command" not in request
    assert "manager_password" in request and "manager_password" not in answer
