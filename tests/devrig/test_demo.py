"""The local demo front-end: a real standalone Apache under var/, the local transport, demo backends."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from balancers.models import FrontEnd, ZopeServer
from devrig import apache
from devrig import demo as demo_frontend
from devrig.net import free_port, http_get
from tests.realparts import require_binary

pytestmark = pytest.mark.real


def test_the_demo_frontend_starts_deploys_locally_and_serves_the_demo_backends(demo, settings, tmp_path):
    require_binary("apache2")
    settings.VAR_DIR = tmp_path / "var"
    ports = {name: free_port() for name in ("zope1", "zope2", "backup")}
    for name, port in ports.items():  # the demo's fixed ports 18101-18103 may be taken on a test machine
        ZopeServer.objects.filter(name=name).update(port=port)
    http_port, manager_port = free_port(), free_port()
    backends = demo_frontend.DemoBackends(demo_frontend.demo_backend_list()).start()
    try:
        out = io.StringIO()
        call_command("demo_frontend", "start", "--deploy", http_port=http_port, manager_port=manager_port, stdout=out)
        assert "Deployed to the demo front-end: succeeded" in out.getvalue()
        frontend = FrontEnd.objects.get(name="demo")
        assert frontend.transport == "local"
        answer = http_get(http_port, host="linux.co.uk")
        assert answer.status == 200 and answer.headers["X-Backend"] in {"zope1", "zope2"}
        assert "/plone/linux" in answer.body
        out = io.StringIO()
        call_command("demo_frontend", "status", stdout=out)
        assert "running" in out.getvalue()
        # idempotent: a second start changes nothing and keeps serving
        call_command("demo_frontend", "start", http_port=http_port, manager_port=manager_port, stdout=io.StringIO())
        assert FrontEnd.objects.filter(name="demo").count() == 1
    finally:
        out = io.StringIO()
        call_command("demo_frontend", "stop", stdout=out)
        backends.stop()
    assert "stopped" in out.getvalue()
    assert not demo_frontend.is_running(demo_frontend.DemoPaths.default())


def test_without_apache_the_demo_says_how_to_get_one(demo, settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setattr(apache, "apache_binary", lambda: None)
    out = io.StringIO()
    call_command("demo_frontend", "start", stdout=out)
    assert "apt-get install apache2" in out.getvalue()
    assert not FrontEnd.objects.filter(name="demo").exists()
