"""Issue 27, the nginx TLS edge on real parts, bounded: two front-ends (real sshd + Apache + nginx via devrig, the
`edge_farm`), each terminating HTTPS in nginx with every site's certificate read per handshake and handing the
requests to Apache on a loopback listener. 1,000 HTTPS sites: SNI verified (right certificate) for a sample and
an alias; HTTP/2 through nginx; +1 HTTPS site, a renewal, a suspension and a removal go live with no reload of
either daemon; a request in flight survives a certificate activation; and the client's address reaches Apache
through X-Forwarded-For from nginx only (a client cannot claim one)."""

from __future__ import annotations

import json
import ssl
import threading
import time

import pytest

from certificates.models import Certificate
from certificates.services import certificate_set_custom
from devrig.fleet import ACTOR, add_https_sites
from devrig.net import https_get
from rendering import cache
from sites import services as site_services
from sites.models import Site
from tests.deploy.test_https_scale_real import _new_https_site, _verified
from tests.rendering.test_http2 import curl_get

pytestmark = pytest.mark.real

SITES = 1000


def _serial(domain: str) -> int:
    return int(Certificate.objects.get(site__domain=domain).serial, 16)


def _daemons(farm) -> list[tuple[int, int]]:
    """(Apache generations, nginx reloads) per front-end."""
    return [(host.reloads(), host.edge_reloads()) for host in farm.hosts]


def _not_served(host, domain: str, test_pki) -> bool:
    try:
        answer = https_get(host.https_port, domain, root_pem=test_pki.root_pem, timeout=10)
    except (ssl.SSLError, ConnectionError):  # no certificate for the name: the handshake fails
        return True
    return "X-Backend" not in answer.headers


def test_a_thousand_https_sites_behind_nginx_edges_and_certificates_going_live_without_any_reload(
    edge_farm, test_pki, secrets_key, settings, tmp_path
):
    farm = edge_farm
    settings.HOSTPANEL_AUTO_DEPLOY = False
    domains = add_https_sites(SITES, farm.balancer, test_pki.intermediate)
    deployment = farm.deploy()
    assert deployment.status == "succeeded", [(h.frontend_name, h.stage, h.error) for h in deployment.hosts.all()]
    # the first deployment brought edge/nginx.conf: checked and loaded once per front-end
    assert [host.edge_reloads() for host in farm.hosts] == [1, 1]
    sample = domains[:: SITES // 10]
    cafile = tmp_path / "root.pem"
    cafile.write_text(test_pki.root_pem)
    for host in farm.hosts:
        assert not (host.config_dir / "sites").exists()  # no Apache TLS vhost: nginx terminates HTTPS
        for domain in sample:
            answer = https_get(host.https_port, domain, root_pem=test_pki.root_pem, timeout=10)
            assert answer.status == 200 and "X-Backend" in answer.headers, (host.name, domain, answer.status)
            assert answer.serial == _serial(domain), (host.name, domain)  # its own certificate, not a neighbour's
            # Apache routed it as HTTPS (X-Forwarded-Proto from nginx): Zope builds https:// URLs
            assert "/VirtualHostBase/https/" in json.loads(answer.body)["path"], answer.body
        alias = https_get(host.https_port, f"www.{sample[3]}", root_pem=test_pki.root_pem, timeout=10)
        assert alias.status == 200 and alias.serial == _serial(sample[3])
        key = host.config_dir / "edge" / "tls" / f"www.{sample[3]}.pem"
        assert key.stat().st_mode & 0o777 == 0o640  # nginx's workers read it (the deploy user's group)
        answer = curl_get(host.https_port, sample[1], "/", cafile=str(cafile))
        assert (answer.version, answer.status) == ("2", 200)  # ALPN h2 through nginx

    # +1 HTTPS site with its certificate: served verified on both, neither Apache nor nginx reloaded
    before = _daemons(farm)
    _new_https_site("fresh.example", farm, test_pki)
    farm.deploy()
    for host in farm.hosts:
        assert _verified(host, "fresh.example", test_pki), host.name
        assert https_get(host.https_port, "fresh.example", root_pem=test_pki.root_pem).serial == _serial(
            "fresh.example"
        )
    assert _daemons(farm) == before

    # a renewal: the new certificate of an existing site is served at the next handshake
    renewed = sample[2]
    old_serial = _serial(renewed)
    certificate_set_custom(Site.objects.get(domain=renewed), actor=ACTOR, **test_pki.issue([renewed, f"www.{renewed}"]))
    assert _serial(renewed) != old_serial
    farm.deploy()
    for host in farm.hosts:
        for name in (renewed, f"www.{renewed}"):
            assert https_get(host.https_port, name, root_pem=test_pki.root_pem).serial == _serial(renewed)
    assert _daemons(farm) == before

    # a request in flight through the edge survives a certificate activation
    farm.backends["zope1"].delay = farm.backends["zope2"].delay = 5
    slow: dict[str, object] = {}

    def request_in_flight() -> None:
        try:
            slow["status"] = https_get(farm.fe1.https_port, sample[0], root_pem=test_pki.root_pem).status
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            slow["error"] = repr(error)

    flight = threading.Thread(target=request_in_flight)
    flight.start()
    time.sleep(0.5)  # the request is at the backend when the certificate goes live
    _new_https_site("during.example", farm, test_pki)
    farm.deploy()
    assert flight.is_alive()  # the certificate went live while the request was at the backend
    farm.backends["zope1"].delay = farm.backends["zope2"].delay = 0
    flight.join(timeout=60)
    assert slow == {"status": 200}
    assert all(_verified(host, "during.example", test_pki) for host in farm.hosts)
    assert _daemons(farm) == before

    # a suspension: still its own certificate, and the suspended page (503) through the edge
    suspended = sample[4]
    site_services.site_suspend(Site.objects.get(domain=suspended), actor=ACTOR, reason="unpaid")
    farm.deploy()
    for host in farm.hosts:
        answer = https_get(host.https_port, suspended, root_pem=test_pki.root_pem)
        assert answer.status == 503 and answer.serial == _serial(suspended), (host.name, answer.status)

    # a removal: its name is served no more (no certificate: the handshake fails), its neighbours still are
    removed = sample[5]
    site_services.site_delete(Site.objects.get(domain=removed), actor=ACTOR)
    farm.deploy()
    for host in farm.hosts:
        assert _not_served(host, removed, test_pki), host.name
        assert not (host.config_dir / "edge" / "tls" / f"{removed}.pem").exists()
        assert _verified(host, sample[6], test_pki)
    assert _daemons(farm) == before


def _manage_main(host, domain: str, test_pki, *, source: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    answer = https_get(
        host.https_port, domain, "/manage_main", root_pem=test_pki.root_pem, headers=headers, source=source
    )
    return answer.status


def test_the_client_address_reaches_apache_from_the_edge_only(edge_farm, test_pki, secrets_key, settings):
    """A staff-only path (manage_access = staff) decides on the client's address: Apache must see the address
    nginx took the connection from (X-Forwarded-For, trusted from loopback), not nginx's own 127.0.0.1, and
    never an address a client put in its own X-Forwarded-For."""
    farm = edge_farm
    settings.HOSTPANEL_AUTO_DEPLOY = False
    site = site_services.site_create(
        actor=ACTOR,
        domain="staff.example",
        balancer=farm.balancer,
        plone_path="/plone/staff",
        tls="custom",
        manage_access="staff",
    )
    certificate_set_custom(site, actor=ACTOR, **test_pki.issue(["staff.example"]))
    settings.HOSTPANEL_STAFF_NETWORKS = ("127.0.0.2/32",)
    cache.clear()
    assert farm.deploy().status == "succeeded"
    for host in farm.hosts:
        assert _manage_main(host, "staff.example", test_pki, source="127.0.0.2") == 200, host.name
        assert _manage_main(host, "staff.example", test_pki, source="127.0.0.3") == 403, host.name
        # a client cannot claim a staff address: nginx sends the address it took the connection from
        claimed = _manage_main(host, "staff.example", test_pki, source="127.0.0.3", forwarded_for="127.0.0.2")
        assert claimed == 403, host.name

    # nginx's own address is no staff address: Apache does not decide on the connection it got from nginx
    settings.HOSTPANEL_STAFF_NETWORKS = ("127.0.0.1/32",)
    cache.clear()
    assert farm.deploy().status == "succeeded"
    for host in farm.hosts:
        assert _manage_main(host, "staff.example", test_pki, source="127.0.0.2") == 403, host.name
        assert _manage_main(host, "staff.example", test_pki, source="127.0.0.1") == 200, host.name
