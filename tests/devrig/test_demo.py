"""The local demo front-end: a real standalone Apache under var/, the local transport, demo backends."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from balancers import services as balancer_services
from balancers.models import BalancerMember, FrontEnd, ZopeServer
from devrig import apache
from devrig import demo as demo_frontend
from devrig.net import free_port, http_get, https_get
from operations.models import ZopeServerOps
from operations.runner import _restart
from sites.models import Site
from tests.factories import ACTOR
from tests.realparts import require_binary

pytestmark = pytest.mark.real


def test_the_demo_frontend_starts_deploys_locally_and_serves_the_demo_backends(demo, settings, tmp_path):
    require_binary("apache2")
    settings.VAR_DIR = tmp_path / "var"
    ports = {name: free_port() for name in ("zope1", "zope2", "backup")}
    for name, port in ports.items():  # the demo's fixed ports 18101-18103 may be taken on a test machine
        ZopeServer.objects.filter(name=name).update(port=port)
    http_port, manager_port, https_port = free_port(), free_port(), free_port()
    backends = demo_frontend.DemoBackends(demo_frontend.demo_backend_list()).start()
    try:
        out = io.StringIO()
        call_command(
            "demo_frontend", "start", "--deploy", http_port=http_port, manager_port=manager_port,
            https_port=https_port, stdout=out,
        )  # fmt: skip
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
        call_command(
            "demo_frontend", "start", http_port=http_port, manager_port=manager_port, https_port=https_port,
            stdout=io.StringIO(),
        )  # fmt: skip
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


def test_the_demo_zope_servers_restart_their_stand_ins_with_the_local_transport(db, tmp_path, settings):
    """seed_demo --restart-commands: each demo Zope server's restart command (run on this host) restarts
    its stand-in in `demo_frontend backends`, as a rolling restart's restart step does."""
    settings.VAR_DIR = tmp_path
    settings.HOSTPANEL_LOCAL_TRANSPORT = True
    call_command("seed_demo", sites=0, no_user=True, restart_commands=True, verbosity=0)
    for server in ZopeServer.objects.all():  # free ports: the fixed demo ports may be taken on this machine
        balancer_services.zope_server_update(server, actor=ACTOR, port=free_port())
    assert set(ZopeServerOps.objects.values_list("transport", flat=True)) == {"local"}
    backends = demo_frontend.DemoBackends(demo_frontend.demo_backend_list(), down_seconds=0.2).start(var_dir=tmp_path)
    try:
        member = BalancerMember.objects.select_related("zope_server").get(
            balancer__name="bronze", zope_server__name="zope1"
        )
        output = _restart(member)
        assert "restarted zope1" in output
        assert backends.restarts == {"zope1": 1}
        zope1 = next(b for b in backends.started if b.name == "zope1")
        assert zope1.running
    finally:
        backends.stop()


def test_the_demo_serves_its_https_site_with_a_certificate_from_its_local_ca(demo, settings, tmp_path):
    """seed_demo --https-site: secure.linux.co.uk with a certificate from the demo's local CA (devrig.pki), which
    the demo front-end serves on its HTTPS port; a client trusting var/demo-pki/roots.pem verifies it."""
    require_binary("apache2")
    settings.VAR_DIR = tmp_path / "var"
    for server in ZopeServer.objects.all():  # the demo's fixed ports may be taken on a test machine
        balancer_services.zope_server_update(server, actor=ACTOR, port=free_port())
    call_command("seed_demo", sites=0, no_user=True, https_site=True, verbosity=0)
    call_command("seed_demo", sites=0, no_user=True, https_site=True, verbosity=0)  # idempotent: issued once
    assert Site.objects.get(domain=demo_frontend.HTTPS_SITE).tls == "custom"
    http_port, manager_port, https_port = free_port(), free_port(), free_port()
    backends = demo_frontend.DemoBackends(demo_frontend.demo_backend_list()).start(var_dir=settings.VAR_DIR)
    try:
        out = io.StringIO()
        call_command(
            "demo_frontend", "start", "--deploy", http_port=http_port, manager_port=manager_port,
            https_port=https_port, stdout=out,
        )  # fmt: skip
        assert "Deployed to the demo front-end: succeeded" in out.getvalue()
        root = (demo_frontend.demo_pki_dir(settings.VAR_DIR) / "roots.pem").read_text()
        answer = https_get(https_port, demo_frontend.HTTPS_SITE, root_pem=root, timeout=10)
        assert answer.status == 200 and "/plone/secure" in answer.body
        redirect = http_get(http_port, host=demo_frontend.HTTPS_SITE)
        assert redirect.status == 301 and redirect.headers["Location"].startswith("https://")
    finally:
        call_command("demo_frontend", "stop", stdout=io.StringIO())
        backends.stop()
