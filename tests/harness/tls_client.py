"""TLS for the tests: a test PKI (root -> intermediate -> leaf, tests/certificates/pki.py) trusted as the
custom-certificate roots, a way to give a site a live certificate through the services, and a TLS client
that trusts only a given root and checks the chain and the host name (SNI) like a browser.

Fixtures (loaded by `pytest_plugins` in tests/conftest.py): ``test_pki``, ``secrets_key``. (tests/harness/tls.py is
the doors' side: ``tls_pki`` and key_body.)

    give_certificate(site, test_pki)           # tls=custom + a certificate for every name of the site
    answer = https_get(port, "example.com", root_pem=test_pki.root_pem)   # verified, SNI = host
    answer.status, answer.headers, answer.body, answer.serial, answer.cookies
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.fernet import Fernet

from certificates import services as certificate_services
from sites import services as site_services
from tests.certificates import pki
from tests.factories import ACTOR


@dataclass
class TestPKI:
    root: pki.Authority
    intermediate: pki.Authority
    roots_file: str

    @property
    def root_pem(self) -> str:
        return pki.pem(self.root.cert)

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
def secrets_key(settings) -> list[str]:
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    return settings.HOSTPANEL_SECRETS_KEY


def give_certificate(site, test_pki: TestPKI, **kw) -> dict[str, str]:
    """The site serves a (customer's) certificate for its domain and every alias; returns the upload."""
    names = [site.domain, *sorted(site.aliases.values_list("name", flat=True))]
    site_services.site_update(site, actor=ACTOR, tls="custom")
    upload = test_pki.issue(names, **kw)
    certificate_services.certificate_set_custom(site, actor=ACTOR, **upload)
    return upload


@dataclass
class HttpsAnswer:
    status: int
    headers: dict[str, str]
    body: str
    serial: int
    cookies: list[str] = field(default_factory=list)


def https_get(
    port: int,
    host: str,
    path: str = "/",
    *,
    root_pem: str | None,
    headers: dict | None = None,
    timeout: float = 30,
) -> HttpsAnswer:
    """GET over TLS from 127.0.0.1:port with SNI and Host = host, trusting only root_pem (chain and
    host name verified: ssl.SSLCertVerificationError otherwise). root_pem=None: nothing verified (to
    look at what a server answers a name it has no certificate for)."""
    if root_pem is None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=root_pem)
    raw = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout), server_hostname=host)
    serial = x509.load_der_x509_certificate(raw.getpeercert(binary_form=True)).serial_number
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.sock = raw  # already connected: TLS to 127.0.0.1 with SNI = host, verified for host
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return HttpsAnswer(
            status=response.status,
            headers={k: v for k, v in response.getheaders() if k.lower() != "set-cookie"},
            body=body,
            serial=serial,
            cookies=[v for k, v in response.getheaders() if k.lower() == "set-cookie"],
        )
    finally:
        conn.close()
