"""The nginx TLS edge in the rendered tree (pure): nginx's include and Apache's loopback vhost behind it, every
served name's certificate and key under edge/tls (found by SNI, read at each handshake), HSTS by map, no mod_ssl
vhost in Apache, and a new certificate that is a change needing no configtest and no reload."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from balancers import services as balancer_services
from rendering.manifest import KEY_NOT_SHOWN, changed_files, is_private_key, tree_diff
from rendering.render import render_tree
from rendering.routes import EDGE_HSTS_MAP, EDGE_NGINX_CONF, change_kind
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import give_certificate


@pytest.fixture
def edge_frontend(frontend, actor):
    return balancer_services.frontend_update(
        frontend, actor=actor, tls_edge="nginx", edge_backend_listen="127.0.0.1:8443"
    )


@pytest.fixture
def tls_site(demo, actor, test_pki, secrets_key):
    site = Site.objects.get(domain="linux.co.uk")  # alias www.linux.co.uk
    site_services.site_update(site, actor=actor, hsts_seconds=31536000)
    return site, give_certificate(site, test_pki)


def test_an_edge_front_end_gets_nginx_and_no_mod_ssl_vhost(tls_site, edge_frontend):
    site, upload = tls_site
    tree = render_tree(load_snapshot(), edge_frontend)
    assert not [p for p in tree if p.startswith(("sites/", "tls/"))]
    assert "<VirtualHost" not in tree["default.conf"].split("HTTP vhost")[0]
    for name in ("linux.co.uk", "www.linux.co.uk"):  # the alias too: nginx finds the files by the SNI name
        pem = tree[f"edge/tls/{name}.pem"]  # the certificate, its chain, then the key: nginx reads both from it
        certificate, chain, key = (upload[k].strip() for k in ("certificate_pem", "chain_pem", "private_key_pem"))
        assert pem.index(certificate) < pem.index(chain) < pem.index(key)
        assert is_private_key(f"edge/tls/{name}.pem") and not is_private_key(f"edge/tls/{name}.crt")
    nginx = tree[EDGE_NGINX_CONF]
    assert "listen *:443 ssl http2;" in nginx
    assert 'ssl_certificate     "/etc/apache2/hostpanel/edge/tls/$hostpanel_tls_name.pem";' in nginx
    assert 'ssl_certificate_key "/etc/apache2/hostpanel/edge/tls/$hostpanel_tls_name.pem";' in nginx
    assert "server 127.0.0.1:8443;" in nginx
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx  # replaced, never appended
    apache = tree["edge.conf"]
    assert "Listen 127.0.0.1:8443\n<VirtualHost 127.0.0.1:8443>" in apache
    assert "RemoteIPHeader X-Forwarded-For" in apache and "RemoteIPInternalProxy 127.0.0.1 ::1" in apache
    assert "RewriteRule ^ - [E=HP_HTTPS:1]" in apache
    main = tree["hostpanel.conf"]
    assert "Include /etc/apache2/hostpanel/edge.conf" in main and "routing-https.conf" in main
    assert "SSLProtocol" not in main and "SSLSessionCache" not in main  # Apache needs no mod_ssl
    assert tree[EDGE_HSTS_MAP].splitlines()[1:] == ["linux.co.uk 31536000", "www.linux.co.uk 31536000"]


def test_the_sni_name_can_never_name_a_file_outside_edge_tls(tls_site, edge_frontend):
    nginx = render_tree(load_snapshot(), edge_frontend)[EDGE_NGINX_CONF]
    pattern = nginx.split('"~^(?<hostpanel_sni>', 1)[1].split(")$", 1)[0]
    assert "/" not in pattern and "\\\\" not in pattern
    assert 'default "hostpanel-no-sni.invalid";' in nginx


def test_on_an_edge_a_new_certificate_is_a_change_without_configtest_or_reload(
    demo, actor, edge_frontend, test_pki, secrets_key
):
    before = render_tree(load_snapshot(), edge_frontend)
    site = Site.objects.get(domain="linux.co.uk")
    give_certificate(site, test_pki)
    after = render_tree(load_snapshot(), edge_frontend)
    changed = changed_files(before, after)
    assert {"edge/tls/linux.co.uk.pem", "edge/tls/www.linux.co.uk.pem"} <= changed
    assert change_kind(changed) == "map", sorted(changed)
    assert KEY_NOT_SHOWN in tree_diff(before, after)
    assert "BEGIN PRIVATE KEY" not in tree_diff(before, after)
    # the same certificate on a mod_ssl front-end is a config change (a graceful reads it)
    balancer_services.frontend_update(edge_frontend, actor=actor, tls_edge="apache")
    apache_before = render_tree(load_snapshot(), edge_frontend)
    give_certificate(site, test_pki)
    assert change_kind(changed_files(apache_before, render_tree(load_snapshot(), edge_frontend))) == "config"


@pytest.mark.parametrize(
    ("listen", "error"),
    [
        ("10.0.0.5:8443", "must be on loopback"),
        ("*:8443", "must be on loopback"),
        ("127.0.0.1:80", "a port of its own"),
    ],
)
def test_the_edge_listener_must_be_loopback_and_its_own(frontend, actor, listen, error):
    with pytest.raises(ValidationError) as exc:
        balancer_services.frontend_update(frontend, actor=actor, tls_edge="nginx", edge_backend_listen=listen)
    assert error in " ".join(exc.value.message_dict["edge_backend_listen"])
