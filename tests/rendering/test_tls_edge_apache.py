"""The nginx TLS edge as rendered, on real parts: Debian's nginx terminating TLS with the certificate of the SNI
name (read at the handshake) and real Apache behind it on loopback, routing like every HTTPS vhost: https URLs
through the VirtualHostMonster, HSTS per site, suspension, sticky Secure cookies, and the client's own address."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer
from devrig.apache import write_tree
from devrig.net import free_port_block, free_ports, https_get
from devrig.nginx import StandaloneNginx
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate

pytestmark = pytest.mark.real


@pytest.fixture
def edge(db, tmp_path, actor, backend_factory, apache_factory, test_pki, secrets_key):
    backends = [backend_factory(name) for name in ("zope1", "zope2")]
    bronze = balancer_services.balancer_create(actor=actor, name="bronze")
    for backend in backends:
        server = balancer_services.zope_server_create(
            actor=actor, name=backend.name, host="127.0.0.1", port=backend.port
        )
        balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
    linux = site_services.site_create(
        actor=actor, domain="linux.co.uk", aliases=["www.linux.co.uk"], balancer=bronze, plone_path="/plone/linux"
    )
    site_services.site_update(linux, actor=actor, hsts_seconds=31536000)
    give_certificate(linux, test_pki)
    suspended = site_services.site_create(actor=actor, domain="suspended.example", balancer=bronze, plone_path="/p/s")
    give_certificate(suspended, test_pki)
    site_services.site_suspend(suspended, actor=actor, reason="unpaid")
    http_port, https_port, backend_port = free_ports(3)
    config_dir = tmp_path / "hostpanel"
    frontend = balancer_services.frontend_create(
        actor=actor,
        name="edge",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{http_port}",
        https_listen=f"127.0.0.1:{https_port}",
        tls_edge="nginx",
        edge_backend_listen=f"127.0.0.1:{backend_port}",
        node_port_base=free_port_block(2),
    )
    write_tree(render_tree(load_snapshot(), frontend), config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}"], manager=False)
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()
    nginx = StandaloneNginx(tmp_path / "nginx", config_dir, f"127.0.0.1:{https_port}").write_config()
    try:
        nginx.start()
        yield {b.name: b for b in backends}, https_port, apache, nginx, frontend, config_dir
    finally:
        nginx.stop()


def test_the_edge_serves_each_name_its_certificate_and_apache_routes_it_with_https_urls(edge, test_pki):
    backends, https_port, apache, nginx, _, _ = edge
    for host in ("linux.co.uk", "www.linux.co.uk"):
        answer = https_get(https_port, host, "/news?x=1", root_pem=test_pki.root_pem)
        assert answer.status == 200, apache.error_log()[-2000:] + nginx.error_log()[-2000:]
        seen = backends[answer.headers["X-Backend"]].requests[-1]
        assert seen.path == f"/VirtualHostBase/https/{host}:443/plone/linux/VirtualHostRoot/news?x=1"
        assert seen.host == host
        assert seen.headers["X-Forwarded-Proto"] == "https"
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        (cookie,) = [c for c in answer.cookies if c.startswith("BALANCEID=")]
        assert "Secure" in cookie and "HttpOnly" in cookie
    suspended = https_get(https_port, "suspended.example", root_pem=test_pki.root_pem)
    assert suspended.status == 503 and "This site is suspended" in suspended.body
    assert "Strict-Transport-Security" not in suspended.headers  # HSTS is the site's own choice
    # a name no site serves over HTTPS: no certificate, the handshake fails (never another site's certificate)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_get(https_port, "unknown.example", root_pem=None)
    # a name that is no host name (a path, here) never becomes a file name: no certificate is presented
    handshake = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{https_port}", "-servername", "../tls/linux.co.uk"],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "BEGIN CERTIFICATE" not in handshake.stdout
    assert 'cannot load certificate "' in nginx.error_log() and "hostpanel-no-sni.invalid" in nginx.error_log()


def test_a_certificate_written_into_the_tree_is_served_at_the_next_handshake_without_any_reload(edge, actor, test_pki):
    backends, https_port, apache, nginx, frontend, config_dir = edge
    generations, master = apache.generations(), nginx.pid()
    site = site_services.site_create(actor=actor, domain="new.example", balancer=_bronze(), plone_path="/p/n")
    give_certificate(site, test_pki)
    write_tree(render_tree(load_snapshot(), frontend), config_dir)  # what a map-only release switches in
    answer = https_get(https_port, "new.example", root_pem=test_pki.root_pem)
    assert answer.status == 200
    assert (apache.generations(), nginx.pid()) == (generations, master)


def _bronze():
    return Balancer.objects.get(name="bronze")
