"""The TLS fixtures: the one test PKI (devrig.pki.TrustedPKI: root -> intermediate -> leaf) trusted as the
custom-certificate roots, and a secrets key for the private keys at rest. Loaded by `pytest_plugins` in
tests/conftest.py; nothing imports this module.

    test_pki.issue(["example.com", "www.example.com"])   # {certificate_pem, private_key_pem, chain_pem}
    test_pki.root_pem                                     # what a TLS client trusts (devrig.net.https_get)
    tls_pki                                               # the same PKI with a secrets key, for the doors' tests

A site gets a live certificate with tests.factories.give_certificate; tests.assertions.key_body gives the
lines of a private key to grep answers, pages and the audit for.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from devrig.pki import TrustedPKI


@pytest.fixture(scope="session")
def _session_pki(tmp_path_factory) -> TrustedPKI:
    return TrustedPKI.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def test_pki(_session_pki, settings) -> TrustedPKI:
    settings.HOSTPANEL_CUSTOM_CA_BUNDLE = _session_pki.roots_file
    return _session_pki


@pytest.fixture
def secrets_key(settings) -> list[str]:
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    return settings.HOSTPANEL_SECRETS_KEY


@pytest.fixture
def tls_pki(test_pki, secrets_key) -> TrustedPKI:
    """The test PKI for tests that store customers' certificates through the doors (API, pages, browser)."""
    return test_pki
