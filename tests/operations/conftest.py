"""Fixtures for the operations tests: a real fleet (devrig/fleet.py) and a real Zope host (sshd)."""

from __future__ import annotations

import pytest

from devrig.fleet import build_fleet
from devrig.sshd import SshServer
from tests.realparts import require_binary


@pytest.fixture
def zope_host(tmp_path, settings):
    """A real sshd on loopback standing in for the Zope servers' host; the panel's key logs in."""
    require_binary("sshd")
    server = SshServer(tmp_path / "zope-host").start()
    settings.HOSTPANEL_SSH_KEY = str(server.client_key_path)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def fleet(transactional_db, tmp_path, settings, apache_factory, backend_factory):
    """Two real front-ends in front of zope1 and zope2 (balancer bronze, site linux.co.uk), deployed once."""
    settings.HOSTPANEL_RESTART_SETTLE_SECONDS = 0.3
    settings.HOSTPANEL_RESTART_IDLE_TIMEOUT = 8
    settings.HOSTPANEL_RESTART_HEALTH_TIMEOUT = 10
    made = build_fleet(tmp_path, apache_factory, backend_factory, sites=["linux.co.uk"], member_retry=1)
    made.deploy()
    yield made
    made.stop()
