"""Post-deploy probes on real parts: two standalone Apaches deployed to by the real runner (local transport),
in front of Plone-like backends that record the VirtualHostBase path of every request."""

from __future__ import annotations

import os
import time

import pytest

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus, HostStatus
from balancers.models import Balancer, ZopeServer
from devrig.fleet import build_fleet
from devrig.net import free_port
from sites import services as site_services
from sites.models import Site
from tests.factories import ACTOR

pytestmark = pytest.mark.real

SITES = ("linux.co.uk", "debian.org", "ubuntu.com")


@pytest.fixture
def fleet(transactional_db, tmp_path, apache_factory, backend_factory):
    made = build_fleet(tmp_path, apache_factory, backend_factory, sites=SITES, member_retry=1)
    made.deploy()
    yield made
    made.stop()


def hosts_of(deployment) -> dict:
    return {h.frontend_name: h for h in deployment.hosts.all()}


def test_a_change_that_breaks_sites_that_answered_is_reverted_on_every_front_end(fleet):
    assert fleet.get("fe1", "linux.co.uk")[0] == 200
    targets = {h.name: os.readlink(h.apache.config_dir) for h in fleet.hosts}
    for server in ZopeServer.objects.all():  # a typo in the ports: every site would get a 503
        balancer_services.zope_server_update(server, actor=ACTOR, port=free_port())

    deployment = fleet.deploy()

    assert deployment.status == DeploymentStatus.REVERTED and deployment.is_finished
    for name, host in hosts_of(deployment).items():
        assert host.status == HostStatus.REVERTED, host.error
        assert "3 site(s) that answered before the change fail after it" in host.error
        assert "linux.co.uk: HTTP 503 (was HTTP 200)" in host.error
        assert "previous release was put back and Apache reloaded." in host.error
        assert os.readlink(fleet.host(name).apache.config_dir) == targets[name]
        for domain in SITES:  # the old config serves again
            status, backend, _, _ = fleet.get(name, domain)
            assert (status, backend in {"zope1", "zope2"}) == (200, True)


def test_a_suspension_and_a_new_site_are_probed_for_what_they_should_do(fleet):
    for backend in fleet.backends.values():
        backend.clear()
    site_services.site_suspend(Site.objects.get(domain="debian.org"), actor=ACTOR, reason="unpaid")
    site_services.site_create(
        actor=ACTOR, domain="new.example", balancer=Balancer.objects.get(name="bronze"), plone_path="/plone/new"
    )

    deployment = fleet.deploy()

    assert deployment.status == DeploymentStatus.SUCCEEDED
    for host in hosts_of(deployment).values():
        assert host.status == HostStatus.SUCCEEDED, host.error
        assert "post-deploy probes: 4 site(s), 4 as expected" in host.output
        assert "ok   debian.org [changed] expect suspended: HTTP 503" in host.output
        assert "ok   new.example [changed] expect proxied: HTTP 200" in host.output
        assert "probes" in host.output.splitlines()[-1] or "stage seconds" in host.output
    probes = [
        r.path for b in fleet.backends.values() for r in b.requests if r.headers["User-Agent"].startswith("HostPanel")
    ]
    paths = set(probes)
    # the probes reached the right Plone site through each front-end's VirtualHostMonster rewrite
    assert "/VirtualHostBase/http/new.example:80/plone/new/VirtualHostRoot/" in paths
    assert "/VirtualHostBase/http/linux.co.uk:80/plone/linux/VirtualHostRoot/" in paths
    # debian.org reached Zope only in the round before the change (one per front-end), never once suspended
    assert sum("/debian.org:80/" in path for path in probes) == 2


def test_the_probe_round_is_bounded_in_time_and_a_slow_site_is_reported_not_reverted(fleet, settings):
    settings.HOSTPANEL_PROBE_TIMEOUT = 1.0
    for backend in fleet.backends.values():
        backend.delay = 3
    site_services.site_update(Site.objects.get(domain="ubuntu.com"), actor=ACTOR, plone_path="/plone/ubuntu2")
    started = time.monotonic()
    try:
        deployment = fleet.deploy()
    finally:
        for backend in fleet.backends.values():
            backend.delay = 0
    elapsed = time.monotonic() - started
    assert deployment.status == DeploymentStatus.SUCCEEDED  # it did not answer before either: nothing to revert
    assert elapsed < 8, elapsed  # 2 front-ends in parallel x (2 rounds of 1 s + deploy)
    for host in hosts_of(deployment).values():
        assert "warn ubuntu.com [changed] expect proxied:" in host.output
