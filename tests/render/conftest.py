"""Fixtures for the renderer's tests: a front-end record, render-mode switching, generated sites."""

from __future__ import annotations

import socket

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd
from sites.models import Site, SiteAlias
from tests.harness.apache import apache_factory  # noqa: F401 - fixture
from tests.harness.backends import backend_factory  # noqa: F401 - fixture
from tests.realparts import free_port


def set_render_mode(mode: str, actor) -> None:
    """Put every balancer in render mode `mode`, through the service like the web UI would."""
    for balancer in Balancer.objects.all():
        balancer_services.balancer_update(balancer, actor=actor, render_mode=mode)


def add_generated_sites(count: int, *, aliases_every: int = 3) -> None:
    """`count` valid client sites (seed_demo's generator) and an alias on every `aliases_every`-th one."""
    from django.core.management import call_command

    call_command("seed_demo", sites=count, no_user=True, verbosity=0)
    sites = Site.objects.filter(domain__startswith="client").order_by("domain")
    taken = set(SiteAlias.objects.values_list("name", flat=True))
    SiteAlias.objects.bulk_create(
        [
            SiteAlias(site=site, name=f"www.{site.domain}")
            for site in sites[::aliases_every]
            if f"www.{site.domain}" not in taken
        ],
        batch_size=500,
    )


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1 (node vhosts use node_port_base+index)."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {count} free ports found")


@pytest.fixture
def frontend(db, actor) -> FrontEnd:
    """The demo front-end (deploys locally): config in /etc/apache2/hostpanel, site vhosts on *:80."""
    return balancer_services.frontend_create(actor=actor, name="demo-fe", address="127.0.0.1", transport="local")
