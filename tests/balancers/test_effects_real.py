"""The effect a confirmation shows, checked against what real Apaches then serve (devrig.fleet: two
front-ends, each its own sshd and Apache, over fake Zope backends)."""

from __future__ import annotations

import time

import pytest

from balancers.choices import DeploymentStatus
from balancers.models import BalancerMember, Deployment
from balancers.selectors.effects import change_effect, rollback_effect, rollback_offered, with_member_state
from balancers.services import deployment_rollback, deployment_start, member_set_flags
from devrig.fleet import add_site
from tests.factories import ACTOR

pytestmark = pytest.mark.real


def deploy() -> Deployment:
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED, deployment.hosts.values_list("error", flat=True)
    return deployment


def status_of(host, domain: str, *, want: int, timeout: float = 5.0) -> int:
    """The HTTP status Apache answers for the domain, waiting (bounded) for a map change to be read."""
    deadline = time.monotonic() + timeout
    while True:
        status = host.get(domain)[0]
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_a_rollback_preview_names_exactly_the_sites_that_then_answer_404(farm):
    add_site("linux.co.uk", farm.balancer, "/plone/linux")
    first = deploy()
    add_site("shop.example", farm.balancer)
    add_site("blog.example", farm.balancer)
    second = deploy()
    assert not rollback_offered(second)  # the front-ends serve it

    effect = rollback_effect(first)
    assert effect.offline == ["blog.example", "shop.example"]
    assert sorted(fe.frontend for fe in effect.frontends) == ["fe1", "fe2"]
    for host in farm.hosts:
        for domain in effect.offline:
            assert host.get(domain)[0] == 200  # served before the rollback

    rollback = deployment_rollback(first, actor=ACTOR)
    rollback.refresh_from_db()
    assert rollback.status == DeploymentStatus.SUCCEEDED
    for host in farm.hosts:
        for domain in effect.offline:
            assert status_of(host, domain, want=404) == 404
        assert host.backend_for("linux.co.uk") is not None  # not named: still served
    assert not rollback_offered(first)  # now what they serve
    assert rollback_offered(second)


def test_a_member_disable_preview_matches_the_balancer_apache_then_runs(farm):
    add_site("linux.co.uk", farm.balancer, "/plone/linux")
    deploy()
    member = BalancerMember.objects.select_related("zope_server").filter(balancer=farm.balancer).first()
    route = member.zope_server.name
    flags = {"hot_standby": False, "drain": False, "disabled": True}
    (bronze,) = change_effect(with_member_state(farm.balancer.name, route, **flags)).balancers
    assert route in bronze.before and route not in bronze.after and "linux.co.uk" in bronze.sites

    member_set_flags(member, actor=ACTOR, **flags)
    deploy()
    seen = {farm.fe1.backend_for("linux.co.uk")["backend"] for _ in range(12)}
    assert route not in seen and seen <= set(bronze.after)
