"""HTTPS on a real standalone Apache with mod_ssl, both render modes: a TLS client trusting only the test
root verifies chain and host name for the domain and its alias, Zope gets https URLs through the
VirtualHostMonster, HTTP redirects except the ACME challenge, the sticky cookie is Secure."""

from __future__ import annotations

import base64
import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import sync_playwright

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.browser import launch_chromium
from devrig.net import free_port_block, free_ports, http_get, https_get
from rendering.manifest import challenge_dir
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate

pytestmark = pytest.mark.real


@pytest.fixture
def served(db, tmp_path, actor, backend_factory, apache_factory, test_pki, secrets_key):
    def start(mode: str, *, after_include: str = "", listen: tuple[str, ...] = ()):
        backends = [backend_factory(name) for name in ("zope1", "zope2")]
        bronze = balancer_services.balancer_create(actor=actor, name="bronze", render_mode=mode)
        for backend in backends:
            server = balancer_services.zope_server_create(
                actor=actor, name=backend.name, host="127.0.0.1", port=backend.port
            )
            balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
        linux = site_services.site_create(
            actor=actor, domain="linux.co.uk", aliases=["www.linux.co.uk"], balancer=bronze, plone_path="/plone/linux"
        )
        site_services.site_update(linux, actor=actor, hsts_seconds=31536000)
        start.upload = give_certificate(linux, test_pki)  # the test pins its public key
        suspended = site_services.site_create(
            actor=actor, domain="suspended.example", balancer=bronze, plone_path="/plone/suspended"
        )
        give_certificate(suspended, test_pki)
        site_services.site_suspend(suspended, actor=actor, reason="unpaid")
        site_services.site_create(actor=actor, domain="plain.example", balancer=bronze, plone_path="/plone/plain")
        http_port, https_port = free_ports(2)
        config_dir = tmp_path / "hostpanel"
        frontend = balancer_services.frontend_create(
            actor=actor,
            name="tls",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            node_port_base=free_port_block(2),
        )
        write_tree(render_tree(load_snapshot(), frontend), config_dir)
        challenges = tmp_path / "hostpanel.acme-challenge"
        assert str(challenges) == challenge_dir(str(config_dir))
        challenges.mkdir()
        (challenges / "tok-en_1").write_text("key-authorization\n")
        apache = apache_factory(
            config_dir,
            listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https", *listen],
            manager=False,
            after_include=after_include,
        )
        check = apache.configtest()
        assert check.ok, check.output
        apache.start()
        return {b.name: b for b in backends}, http_port, https_port, apache

    return start


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_tls_site_is_served_over_https_with_https_urls_for_plone(served, test_pki, mode):
    backends, http_port, https_port, apache = served(mode)
    for host in ("linux.co.uk", "www.linux.co.uk"):
        answer = https_get(https_port, host, "/news?x=1", root_pem=test_pki.root_pem)
        assert answer.status == 200, apache.error_log()[-2000:]
        route = answer.headers["X-Backend"]
        seen = backends[route].requests[-1]
        assert seen.path == f"/VirtualHostBase/https/{host}:443/plone/linux/VirtualHostRoot/news?x=1"
        assert seen.host == host
        assert seen.headers["X-Forwarded-Proto"] == "https"
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        (cookie,) = [c for c in answer.cookies if c.startswith("BALANCEID=")]
        assert cookie.startswith(f"BALANCEID=balancer.{route}")
        assert "Secure" in cookie and "HttpOnly" in cookie
    # a client cannot pretend to have come over HTTPS on HTTP: Zope hears the truth
    assert http_get(http_port, "/", host="plain.example", headers={"X-Forwarded-Proto": "https"}).status == 200
    plain = [r for b in backends.values() for r in b.requests if r.host == "plain.example"][-1]
    assert plain.headers["X-Forwarded-Proto"] == "http"
    assert plain.path.startswith("/VirtualHostBase/http/plain.example:80/")


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_http_redirects_to_https_except_the_acme_challenge_which_any_host_gets(served, mode):
    backends, http_port, _, _ = served(mode)
    answer = http_get(http_port, "/a/b?c=d", host="www.linux.co.uk")
    assert answer.status == 301
    assert answer.headers["Location"] == "https://www.linux.co.uk/a/b?c=d"
    for host in ("linux.co.uk", "plain.example", "suspended.example", "unknown.example"):
        token = http_get(http_port, "/.well-known/acme-challenge/tok-en_1", host=host)
        assert (token.status, token.body) == (200, "key-authorization\n"), host
    assert http_get(http_port, "/", host="unknown.example").status == 404
    assert all(r.path.find("acme-challenge") < 0 for b in backends.values() for r in b.requests)


def test_a_suspended_tls_site_answers_503_on_https_and_an_unknown_name_gets_404(served, test_pki):
    backends, _, https_port, _ = served("single-pass")
    answer = https_get(https_port, "suspended.example", root_pem=test_pki.root_pem)
    assert answer.status == 503 and "This site is suspended" in answer.body
    stranger = https_get(https_port, "unknown.example", root_pem=None)
    assert stranger.status == 404
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(https_port, "unknown.example", root_pem=test_pki.root_pem)
    assert all(b.requests == [] for b in backends.values())


def test_another_vhost_with_its_own_rewrite_rules_is_untouched_by_the_inherited_https_routing(
    served, tmp_path, test_pki
):
    """The HTTPS routing is defined at server level and inherited down (RewriteOptions InheritDown): a vhost of
    the front-end's own config that turns RewriteEngine on inherits the rules too, and must leave them at once."""
    docroot = tmp_path / "foreign"
    docroot.mkdir()
    (docroot / "new.txt").write_text("the foreign vhost's own file\n")
    (port,) = free_ports(1)
    foreign = f"""
<VirtualHost 127.0.0.1:{port}>
    ServerName foreign.example
    DocumentRoot "{docroot}"
    <Directory "{docroot}">
        Require all granted
    </Directory>
    RewriteEngine On
    RewriteRule ^/old\\.txt$ /new.txt
</VirtualHost>
"""
    backends, _, https_port, apache = served("single-pass", after_include=foreign, listen=(f"127.0.0.1:{port}",))
    renamed = http_get(port, "/old.txt", host="foreign.example")
    assert (renamed.status, renamed.body) == (200, "the foreign vhost's own file\n"), apache.error_log()[-2000:]
    # a site's name on the foreign vhost is not routed to its Zope, and an unknown path is Apache's 404 there
    assert http_get(port, "/new.txt", host="linux.co.uk").status == 200
    assert http_get(port, "/nothing", host="linux.co.uk").status == 404
    assert all(b.requests == [] for b in backends.values())
    # while HostPanel's HTTPS vhost still routes through the inherited rules
    assert https_get(https_port, "linux.co.uk", "/", root_pem=test_pki.root_pem).status == 200


def spki_pin(certificate_pem: str) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list takes."""
    key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    return base64.b64encode(
        hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()
    ).decode()


def test_chromium_loads_a_tls_site_over_https_through_the_front_end(served):
    """A real browser, trusting exactly the site's certificate (pinned by its public key, since the test PKI's
    root is not in Chromium's store), resolves the site's name to the front-end and gets the page from Zope."""
    backends, http_port, https_port, apache = served("single-pass")
    pin = spki_pin(served.upload["certificate_pem"])
    with sync_playwright() as playwright:
        browser = launch_chromium(
            playwright,
            "--host-resolver-rules=MAP linux.co.uk 127.0.0.1, MAP www.linux.co.uk 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={pin}",
        )
        try:
            page = browser.new_page()
            response = page.goto(f"https://www.linux.co.uk:{https_port}/news", timeout=15_000)
            assert response is not None and response.status == 200, apache.error_log()[-2000:]
            assert page.url.startswith("https://www.linux.co.uk:")
            cookies = page.context.cookies()
        finally:
            browser.close()
    seen = [r for b in backends.values() for r in b.requests if r.path.endswith("/VirtualHostRoot/news")]
    assert seen and seen[-1].path == "/VirtualHostBase/https/www.linux.co.uk:443/plone/linux/VirtualHostRoot/news"
    assert all(c["secure"] for c in cookies if c["name"].lower() == "balanceid") and cookies
