"""Fixtures for the certificates tests: a secrets key, a test PKI trusted as the custom-certificate roots,
and a site (example.com with alias www.example.com)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet

from balancers.models import Balancer
from sites.services import site_create
from tests.certificates import pki


@pytest.fixture(autouse=True)
def secrets_key(settings):
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    return settings.HOSTPANEL_SECRETS_KEY


@dataclass
class TestPKI:
    root: pki.Authority
    intermediate: pki.Authority
    roots_file: str

    def issue(self, names: list[str], **kw) -> dict[str, str]:
        """certificate_pem / private_key_pem / chain_pem for `names`, as a customer would upload them."""
        cert, key = pki.leaf(self.intermediate, names, **kw)
        return {
            "certificate_pem": pki.pem(cert),
            "private_key_pem": pki.key_pem(key),
            "chain_pem": pki.pem(self.intermediate.cert),
        }


@pytest.fixture(scope="session")
def _session_pki(tmp_path_factory) -> TestPKI:
    root = pki.root()
    path = tmp_path_factory.mktemp("pki") / "roots.pem"
    path.write_text(pki.pem(root.cert))
    return TestPKI(root=root, intermediate=pki.intermediate(root), roots_file=str(path))


@pytest.fixture
def test_pki(_session_pki, settings) -> TestPKI:
    settings.HOSTPANEL_CUSTOM_CA_BUNDLE = _session_pki.roots_file
    return _session_pki


@pytest.fixture
def site(db, actor):
    balancer = Balancer.objects.create(name="bronze")
    return site_create(
        actor=actor,
        domain="example.com",
        balancer=balancer,
        plone_path="/plone/example",
        aliases=["www.example.com"],
        tls="acme",
    )
