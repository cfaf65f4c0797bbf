"""Fixtures for the deploy tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from balancers.connections import POOL
from balancers.models import Balancer
from tests.factories import make_tree
from tests.harness.farm import Host, make_balancer, make_client_key, make_host
from tests.realparts import require_binary


@pytest.fixture
def tree_maker():
    return make_tree


@dataclass
class Farm:
    fe1: Host
    fe2: Host
    balancer: Balancer
    backends: list

    @property
    def hosts(self) -> list[Host]:
        return [self.fe1, self.fe2]


@pytest.fixture
def farm(transactional_db, tmp_path, settings, apache_factory, backend_factory):
    require_binary("sshd")
    require_binary("apache2")
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    backends = [backend_factory("zope1"), backend_factory("zope2")]
    balancer = make_balancer(backends)
    hosts = []
    try:
        for name in ("fe1", "fe2"):
            hosts.append(make_host(tmp_path / name, name, key, apache_factory))
        yield Farm(hosts[0], hosts[1], balancer, backends)
    finally:
        POOL.close_all()
        for host in hosts:
            host.sshd.stop()
