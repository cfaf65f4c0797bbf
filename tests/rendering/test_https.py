"""HTTPS in the rendered tree (pure): the HTTPS vhost of a site with a live certificate, its files, when
HTTP redirects, and that a private key never shows in a diff or a stored tree."""

from __future__ import annotations

import dataclasses

import pytest
from django.utils import timezone

from balancers.models import ConfigTree
from certificates.models import Certificate
from deploy.runner import store_tree
from deploy.secrets import open_tree, seal_tree
from rendering.manifest import KEY_NOT_SHOWN, SEALED_PREFIX, tree_diff
from rendering.render import UnsafeValue, render_tree
from rendering.routes import map_entries
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import give_certificate, set_render_mode

LOOKUP = "RewriteCond ${hostpanel-recent:%{SERVER_NAME}|${hostpanel-routes:%{SERVER_NAME}|-}} "  # overlay, then base


@pytest.fixture
def tls_site(demo, frontend, actor, test_pki, secrets_key):
    """linux.co.uk (+ www.linux.co.uk) with a live certificate; returns (site, upload)."""
    site = Site.objects.get(domain="linux.co.uk")
    upload = give_certificate(site, test_pki)
    return site, upload


def key_body(upload: dict) -> str:
    return upload["private_key_pem"].splitlines()[1]


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def routes(tree: dict[str, str]) -> dict[str, str]:
    return map_entries(tree["routes.map"])


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_site_with_a_live_certificate_gets_an_https_vhost_that_maps_https_through_the_vhm(
    tls_site, frontend, actor, mode
):
    set_render_mode(mode, actor)
    site, upload = tls_site
    tree = render_tree(load_snapshot(), frontend)
    https = tree["sites/linux.co.uk.conf"]
    assert https.count("<VirtualHost ") == 1 and "<VirtualHost *:443>" in https
    assert "ServerName linux.co.uk\n    ServerAlias www.linux.co.uk\n    SSLEngine on" in https
    assert 'SSLCertificateFile "/etc/apache2/hostpanel/tls/linux.co.uk.crt"' in https
    assert 'SSLCertificateKeyFile "/etc/apache2/hostpanel/tls/linux.co.uk.key"' in https
    # the routing is not in the vhost: it inherits the one routing-https.conf hostpanel.conf includes at server level
    assert "Include" not in https and "RewriteMap" not in https
    assert https.rstrip().endswith(
        "RewriteEngine On\n    RewriteRule ^ - [E=HP_HTTPS:1]\n"
        "    ErrorDocument 503 /hostpanel-503.html\n</VirtualHost>"
    )
    assert "Include /etc/apache2/hostpanel/routing-https.conf" in tree["hostpanel.conf"].splitlines()
    assert "Strict-Transport-Security" not in https  # hsts_seconds = 0
    # what it serves comes from the map, through the VHM with the https scheme and port
    flag = "s" if mode == "single-pass" else "n"
    assert routes(tree)["linux.co.uk"] == f"redirect|bronze|/plone/linux|{flag}|BALANCEID|1200"
    routing = lines(tree["routing-https.conf"])
    proxy = routing.index(
        "RewriteRule ^/(.*) balancer://%1/VirtualHostBase/https/%{SERVER_NAME}:443%2/VirtualHostRoot/$1 "
        "[L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]"
    )
    # on HTTPS a "redirect" site is proxied too (the redirect is HTTP's)
    assert routing[proxy - 1].startswith(LOOKUP + "^(?:live|redirect)\\|")
    # at server level, every rule, header and X-Forwarded-Proto applies to HostPanel's HTTPS vhosts only
    assert "RewriteEngine On" not in routing and "RewriteOptions InheritDown" in routing
    guard = routing.index("RewriteCond %{ENV:HP_HTTPS} !=1")
    assert routing[guard + 1] == "RewriteRule ^ - [L]"
    assert guard < min(i for i, line in enumerate(routing) if line.startswith("RewriteRule"))
    assert 'RequestHeader set X-Forwarded-Proto "https" "expr=-n reqenv(\'HP_HTTPS\')"' in routing
    set_cookie = next(line for line in routing if line.startswith("Header add Set-Cookie"))
    assert 'Max-Age=%{HP_TTL}e; HttpOnly; Secure"' in set_cookie and "reqenv('HP_COOKIE')" in set_cookie
    assert "-n reqenv('HP_HTTPS')" in set_cookie
    assert (
        'Header edit Set-Cookie "^([A-Za-z0-9_-]+=balancer\\.[A-Za-z0-9_-]+;.*)$" "$1; Secure; HttpOnly" '
        "\"expr=-n reqenv('HP_NODE') && -n reqenv('HP_HTTPS')\""
    ) in routing
    assert tree["tls/linux.co.uk.crt"] == upload["certificate_pem"].strip() + "\n" + upload["chain_pem"].strip() + "\n"
    assert tree["tls/linux.co.uk.key"] == upload["private_key_pem"]
    assert "SSLProtocol -all +TLSv1.2 +TLSv1.3" in tree["hostpanel.conf"]
    assert 'SSLCertificateFile "/etc/apache2/hostpanel/tls/linux.co.uk.crt"' in tree["default.conf"]


def test_http_answers_301_to_https_except_the_acme_challenge(tls_site, frontend):
    tree = render_tree(load_snapshot(), frontend)
    assert set(routes(tree).values()) == {"redirect|bronze|/plone/linux|s|BALANCEID|1200"}
    http = lines(tree["routing-http.conf"])
    acme = http.index("RewriteRule ^/\\.well-known/acme-challenge/ - [L]")
    redirect = http.index("RewriteRule ^/(.*) https://%{SERVER_NAME}/$1 [R=301,L]")
    proxy = next(i for i, line in enumerate(http) if "balancer://" in line)
    assert http[redirect - 1] == LOOKUP + "^redirect\\|"
    assert acme < redirect and acme < proxy
    proxies = [i for i, line in enumerate(http) if line.startswith("RewriteRule") and "balancer://" in line]
    # HTTP proxies live sites only: straight from the map, or (a site with options, or a Volto one with a
    # Classic UI path) from HP_ROUTE and HP_OPT, which only a live value sets
    assert proxies and all(
        " ^live\\|" in http[i - 1] or "%{ENV:HP_ROUTE}" in http[i - 1] or "%{ENV:HP_OPT}" in http[i - 1]
        for i in proxies
    )
    options = next(i for i, line in enumerate(http) if "E=HP_ROUTE:" in line)
    assert http[options - 1].startswith(LOOKUP + "^live\\|")
    # on HTTPS a redirect site is proxied: no 301 there (it would loop)
    assert "R=301" not in tree["routing-https.conf"] + tree["sites/linux.co.uk.conf"]


def test_no_redirect_when_the_site_turns_it_off_and_hsts_when_it_asks(tls_site, frontend, actor):
    site, _ = tls_site
    site_services.site_update(site, actor=actor, https_redirect=False, hsts_seconds=31536000)
    tree = render_tree(load_snapshot(), frontend)
    assert set(routes(tree).values()) == {"live|bronze|/plone/linux|s|BALANCEID|1200"}
    assert 'Header always set Strict-Transport-Security "max-age=31536000"' in tree["sites/linux.co.uk.conf"]
    assert "Strict-Transport-Security" not in tree["routing-http.conf"] + tree["http.conf"]


def test_a_new_alias_the_certificate_does_not_cover_keeps_http_until_the_renewal(tls_site, frontend, actor):
    site, _ = tls_site
    site_services.site_update(site, actor=actor, aliases=["www.linux.co.uk", "shop.linux.co.uk"])
    tree = render_tree(load_snapshot(), frontend)
    # every name of the site is served over HTTP (no redirect), the new one included
    assert routes(tree) == {
        name: "live|bronze|/plone/linux|s|BALANCEID|1200"
        for name in ("linux.co.uk", "shop.linux.co.uk", "www.linux.co.uk")
    }
    # the HTTPS vhost answers only for the names its certificate covers, until the renewal
    conf = tree["sites/linux.co.uk.conf"]
    assert "ServerAlias www.linux.co.uk\n    SSLEngine on" in conf
    assert "shop.linux.co.uk" not in conf


def test_an_expired_certificate_is_served_but_nothing_sends_clients_to_it(tls_site, frontend, actor):
    site, _ = tls_site
    site_services.site_update(site, actor=actor, hsts_seconds=600)
    Certificate.objects.filter(site=site).update(status="expired", not_after=timezone.now())
    tree = render_tree(load_snapshot(), frontend)
    conf = tree["sites/linux.co.uk.conf"]
    assert "SSLEngine on" in conf
    assert "R=301" not in conf and "Strict-Transport-Security" not in conf
    assert set(routes(tree).values()) == {"live|bronze|/plone/linux|s|BALANCEID|1200"}


def test_a_suspended_tls_site_answers_503_on_https_too(tls_site, frontend, actor):
    site, _ = tls_site
    site_services.site_suspend(site, actor=actor, reason="unpaid")
    tree = render_tree(load_snapshot(), frontend)
    assert set(routes(tree).values()) == {"suspended|bronze|/plone/linux|s|BALANCEID|1200"}
    assert "RewriteRule ^ - [E=HP_HTTPS:1]" in tree["sites/linux.co.uk.conf"]
    assert "balancer://" not in tree["sites/linux.co.uk.conf"]
    for scheme in ("http", "https"):
        routing = lines(tree[f"routing-{scheme}.conf"])
        suspended = routing.index("RewriteRule ^ - [R=503,L,E=HP_SUSPENDED:1]")
        assert routing[suspended - 1] == LOOKUP + "^suspended\\|"
        proxy_conditions = [line for line in routing if line.startswith("RewriteCond ${hostpanel-recent")][:-2]
        assert proxy_conditions and all("suspended" not in line for line in proxy_conditions)


def test_http_only_drops_the_certificate_from_the_tree(tls_site, frontend, actor):
    site, _ = tls_site
    before = render_tree(load_snapshot(), frontend)
    assert "sites/linux.co.uk.conf" in before and "SSL" in before["default.conf"]
    site_services.site_update(site, actor=actor, tls="none")
    tree = render_tree(load_snapshot(), frontend)
    assert not [path for path in tree if path.startswith(("tls/", "sites/"))]
    assert "SSL" not in tree["hostpanel.conf"] + tree["default.conf"] + tree["http.conf"]
    assert "<VirtualHost" not in tree["default.conf"]
    assert set(routes(tree).values()) == {"live|bronze|/plone/linux|s|BALANCEID|1200"}


def test_the_renderer_refuses_a_key_that_is_not_pem(tls_site, frontend):
    snapshot = load_snapshot()
    site = snapshot.sites[0]
    bad = dataclasses.replace(
        site.certificate, key_pem="-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\nSSLEngine off\n"
    )
    with pytest.raises(UnsafeValue, match="private key of linux.co.uk: not PEM"):
        render_tree(dataclasses.replace(snapshot, sites=(dataclasses.replace(site, certificate=bad),)), frontend)


# --- the key at rest and in diffs ------------------------------------------------------------------
def test_a_stored_tree_holds_the_key_sealed_and_a_rollback_gets_it_back(tls_site, frontend):
    _, upload = tls_site
    tree = render_tree(load_snapshot(), frontend)
    stored = store_tree(tree)
    row = ConfigTree.objects.get(pk=stored.pk)
    assert row.files["tls/linux.co.uk.key"].startswith(SEALED_PREFIX)
    assert key_body(upload) not in str(row.files)
    assert "PRIVATE KEY" not in row.files["tls/linux.co.uk.key"]
    assert open_tree(row.files) == tree


def test_no_diff_ever_shows_a_private_key(tls_site, frontend, test_pki):
    site, upload = tls_site
    before = render_tree(load_snapshot(), frontend)
    renewed = give_certificate(site, test_pki)
    after = render_tree(load_snapshot(), frontend)
    for old, new in ((before, after), (seal_tree(before), seal_tree(after)), ({}, after), (after, {})):
        diff = tree_diff(old, new)
        assert KEY_NOT_SHOWN in diff
        assert key_body(upload) not in diff and key_body(renewed) not in diff
        assert "PRIVATE KEY" not in diff
    # sealing twice gives two tokens, but the key did not change: no line about it
    assert KEY_NOT_SHOWN not in tree_diff(seal_tree(after), seal_tree(after))
    assert seal_tree(after)["tls/linux.co.uk.key"] != seal_tree(after)["tls/linux.co.uk.key"]
