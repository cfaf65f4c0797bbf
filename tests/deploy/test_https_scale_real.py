"""Issue 27 on real parts, bounded: 1,000 HTTPS sites (each its own ECDSA P-256 certificate) on two front-ends
(real sshd + Apache with mod_ssl and mod_http2, deployed over SSH by the real runner). SNI verified for a sample
on both; HTTP/2 still negotiated; an HTTP site added is a map-only change (no reload, no HTTPS vhost uploaded);
a deployment carrying several new certificates reloads each front-end once, while a request in flight
finishes; two deployments at once never have two reloads in flight on one front-end (the deploy lease)."""

from __future__ import annotations

import threading
import time

import pytest

from certificates.services import certificate_set_custom
from devrig.fleet import ACTOR, add_https_sites, add_site
from devrig.net import https_get
from sites import services as site_services
from tests.rendering.test_http2 import curl_get

pytestmark = pytest.mark.real

SITES = 1000


def _new_https_site(domain: str, farm, test_pki) -> None:
    site = site_services.site_create(
        actor=ACTOR, domain=domain, balancer=farm.balancer, plone_path="/plone/new", tls="custom"
    )
    certificate_set_custom(site, actor=ACTOR, **test_pki.issue([domain]))


def _verified(host, domain: str, test_pki) -> bool:
    answer = https_get(host.https_port, domain, root_pem=test_pki.root_pem, timeout=10)
    return answer.status == 200 and "X-Backend" in answer.headers


def test_a_thousand_https_sites_served_by_sni_and_h2_and_certificates_added_with_one_reload_per_front_end(
    farm, test_pki, secrets_key, settings, tmp_path
):
    settings.HOSTPANEL_AUTO_DEPLOY = False
    domains = add_https_sites(SITES, farm.balancer, test_pki.intermediate)
    farm.deploy()
    sample = domains[:: SITES // 10]
    cafile = tmp_path / "root.pem"
    cafile.write_text(test_pki.root_pem)
    for host in farm.hosts:
        for domain in sample:
            assert _verified(host, domain, test_pki), (host.name, domain)
            assert _verified(host, f"www.{domain}", test_pki), (host.name, domain)
        answer = curl_get(host.https_port, sample[1], "/", cafile=str(cafile))
        assert (answer.version, answer.status) == ("2", 200)

    # +1 HTTP site: the map alone changes, no reload, no HTTPS vhost uploaded
    before = [h.reloads() for h in farm.hosts]
    add_site("plain.example", farm.balancer)
    deployment = farm.deploy()
    assert [h.reloads() for h in farm.hosts] == before
    for row in deployment.hosts.all():
        assert row.change_kind == "map", (row.frontend_name, row.change_kind)
        assert row.files_uploaded <= 4, row.files_uploaded  # the map, its overlay, the release file, MANIFEST
    assert all(h.backend_for("plain.example") for h in farm.hosts)

    # three certificates in one deployment: one graceful per front-end, a slow request in flight finishes
    for i in range(3):
        _new_https_site(f"fresh{i}.example", farm, test_pki)
    farm.backends["zope1"].delay = farm.backends["zope2"].delay = 3
    slow: dict[str, int] = {}
    flight = threading.Thread(
        target=lambda: slow.update(status=https_get(farm.fe1.https_port, sample[0], root_pem=test_pki.root_pem).status)
    )
    flight.start()
    time.sleep(0.5)  # the request is at the backend when the deployment reloads
    before = [h.reloads() for h in farm.hosts]
    farm.deploy()
    farm.backends["zope1"].delay = farm.backends["zope2"].delay = 0
    flight.join(timeout=60)
    assert slow == {"status": 200}
    assert [h.reloads() - b for h, b in zip(farm.hosts, before, strict=True)] == [1, 1]
    for host in farm.hosts:
        for i in range(3):
            assert _verified(host, f"fresh{i}.example", test_pki), (host.name, i)
        assert _verified(host, sample[-1], test_pki)
