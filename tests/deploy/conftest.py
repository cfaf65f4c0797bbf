"""Fixtures for the deploy tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from balancers.models import Balancer
from balancers.render import MANIFEST, manifest_text
from balancers.ssh import POOL
from tests.deploy.farm import Host, make_balancer, make_client_key, make_host
from tests.harness.apache import apache_factory  # noqa: F401 - fixture
from tests.harness.backends import backend_factory  # noqa: F401 - fixture
from tests.realparts import require_binary


def make_tree(files: dict[str, str]) -> dict[str, str]:
    """A small hand-made tree plus its MANIFEST, in the renderer's format (fast unit tests)."""
    return {**files, MANIFEST: manifest_text(files)}


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
def farm(transactional_db, tmp_path, settings, apache_factory, backend_factory):  # noqa: F811
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
