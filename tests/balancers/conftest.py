"""Fixtures for the balancers app tests: the demo front-end record (renderer, snapshot)."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from balancers.models import FrontEnd


@pytest.fixture
def frontend(db, actor) -> FrontEnd:
    """The demo front-end (deploys locally): config in /etc/apache2/hostpanel, site vhosts on *:80."""
    return balancer_services.frontend_create(actor=actor, name="demo-fe", address="127.0.0.1", transport="local")
