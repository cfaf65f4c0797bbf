"""Through the API an operator token manages front-ends but never chooses what runs on a host: the shell
commands are read-only (readOnly in the schema), and the local transport is refused unless the panel
enables it (HOSTPANEL_LOCAL_TRANSPORT). The reproduced defect of issue #12: an operator token posting a
local front-end with configtest_command="id > FILE" had the automatic deployment run it on the panel host."""

from __future__ import annotations

from balancers.models import FrontEnd


def test_an_operator_token_cannot_make_the_panel_host_run_its_command(demo, operator, settings, tmp_path):
    settings.HOSTPANEL_LOCAL_TRANSPORT = True  # even where the demo turned it on
    settings.HOSTPANEL_AUTO_DEPLOY = True  # and the automatic deployment runs at once (immediate backend)
    proof = tmp_path / "pwned"
    body = {
        "name": "fe1",
        "address": "127.0.0.1",
        "transport": "local",
        "config_dir": str(tmp_path / "hp"),
        "configtest_command": f"id > {proof}",
        "reload_command": f"id > {proof}",
    }
    response = operator.post("/api/v1/frontends/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["configtest_command"] == "sudo apache2ctl configtest"  # ignored: read-only
    assert FrontEnd.objects.get(name="fe1").reload_command == "sudo apache2ctl graceful"
    assert not proof.exists()
    changed = operator.patch("/api/v1/frontends/fe1/", {"configtest_command": f"id > {proof}"}, format="json")
    assert changed.status_code == 200 and changed.json()["configtest_command"] == "sudo apache2ctl configtest"
    assert not proof.exists()


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
