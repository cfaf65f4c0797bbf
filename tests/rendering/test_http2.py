"""HTTP/2 on the HTTPS vhosts of a real standalone Apache that loads mod_http2, both render modes: a client
(curl, built with nghttp2) negotiates h2 by ALPN, gets the site through the VirtualHostMonster with https
URLs, and the sticky cookie keeps it on one Zope. The template only says `Protocols h2 http/1.1` inside
<IfModule http2_module>, so a front-end without mod_http2 keeps HTTP/1.1."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

import pytest

from balancers import services as balancer_services
from devrig.apache import module_dir, write_tree
from devrig.net import free_port_block, free_ports
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate
from tests.realparts import missing, require_binary

pytestmark = pytest.mark.real


@dataclass
class Answer:
    version: str
    status: int
    headers: list[tuple[str, str]]
    body: str

    def cookies(self) -> list[str]:
        return [v for k, v in self.headers if k == "set-cookie"]


def curl_get(port: int, host: str, path: str, *, cafile: str, cookie: str | None = None, h2: bool = True) -> Answer:
    """GET https://host:port/path with SNI = host (resolved to 127.0.0.1), verified against cafile only."""
    cmd = [require_binary("curl"), "-sS", "-i", "--cacert", cafile, "--resolve", f"{host}:{port}:127.0.0.1"]
    cmd += ["--http2" if h2 else "--http1.1", "-w", "\n%{http_version}"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, f"https://{host}:{port}{path}"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text, _, version = out.stdout.rpartition("\n")
    head, _, body = text.partition("\n\n")  # text mode: curl's CRLF arrive as \n
    status_line, *lines = head.split("\n")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return Answer(version, int(status_line.split()[1]), headers, body)


@pytest.fixture
def h2_site(db, tmp_path, actor, backend_factory, apache_factory, test_pki, secrets_key):
    if not os.path.exists(os.path.join(module_dir(), "mod_http2.so")):
        missing("mod_http2 is not installed (it ships with Debian's apache2)")

    def start(mode: str):
        backends = {name: backend_factory(name) for name in ("zope1", "zope2")}
        bronze = balancer_services.balancer_create(actor=actor, name="bronze", render_mode=mode)
        for name, backend in backends.items():
            server = balancer_services.zope_server_create(actor=actor, name=name, host="127.0.0.1", port=backend.port)
            balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
        linux = site_services.site_create(
            actor=actor, domain="linux.co.uk", aliases=["www.linux.co.uk"], balancer=bronze, plone_path="/plone/linux"
        )
        give_certificate(linux, test_pki)
        http_port, https_port = free_ports(2)
        config_dir = tmp_path / "hostpanel"
        frontend = balancer_services.frontend_create(
            actor=actor,
            name="h2",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            node_port_base=free_port_block(2),
        )
        write_tree(render_tree(load_snapshot(), frontend), config_dir)
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"])
        check = apache.configtest()
        assert check.ok, check.output
        apache.start()
        return backends, https_port, apache

    return start


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_client_negotiates_h2_gets_the_site_with_https_urls_and_stays_on_its_zope(h2_site, test_pki, mode):
    backends, port, apache = h2_site(mode)
    first = curl_get(port, "linux.co.uk", "/front-page", cafile=test_pki.roots_file)
    assert (first.version, first.status) == ("2", 200), (first, apache.error_log()[-2000:])
    assert first.body.startswith("{"), first
    route = json.loads(first.body)["backend"]
    sticky = [c for c in first.cookies() if c.startswith("BALANCEID=")]
    assert len(sticky) == 1 and sticky[0].startswith(f"BALANCEID=balancer.{route};"), first.cookies()
    assert "Secure" in sticky[0], sticky
    seen = backends[route].requests[-1]
    assert seen.path == "/VirtualHostBase/https/linux.co.uk:443/plone/linux/VirtualHostRoot/front-page"
    assert seen.host.split(":")[0] == "linux.co.uk"

    cookie = sticky[0].split(";", 1)[0]
    for i in range(6):
        host = "www.linux.co.uk" if i % 2 else "linux.co.uk"
        answer = curl_get(port, host, f"/page{i}", cafile=test_pki.roots_file, cookie=cookie)
        assert (answer.version, answer.status, json.loads(answer.body)["backend"]) == ("2", 200, route)
    assert backends[route].requests[-1].path == (
        "/VirtualHostBase/https/www.linux.co.uk:443/plone/linux/VirtualHostRoot/page5"
    )


def test_http_1_1_clients_are_still_served_on_the_https_vhost(h2_site, test_pki):
    backends, port, apache = h2_site("single-pass")
    answer = curl_get(port, "linux.co.uk", "/", cafile=test_pki.roots_file, h2=False)
    assert (answer.version, answer.status) == ("1.1", 200), answer
