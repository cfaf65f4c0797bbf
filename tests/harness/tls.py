"""Fixtures for tests that store customers' certificates through the doors (API, pages, browser): a secrets
key for the keys at rest and a test PKI (tests/certificates/pki.py) trusted as the custom-certificate roots.

    tls_pki.upload(["example.com", "www.example.com"])   # {certificate_pem, private_key_pem, chain_pem}
    tls_pki.upload(names, not_after=..., key=pki.rsa_key(1024))   # a bad one, for the checks at the door
    key_body(upload)   # the private key's base64 lines: grep responses and audit rows for them
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet

from tests.certificates import pki


@dataclass
class DoorPKI:
    root: pki.Authority
    intermediate: pki.Authority
    roots_file: str

    def upload(self, names: list[str], **kw) -> dict[str, str]:
        cert, key = pki.leaf(self.intermediate, names, **kw)
        return {
            "certificate_pem": pki.pem(cert),
            "private_key_pem": pki.key_pem(key),
            "chain_pem": pki.pem(self.intermediate.cert),
        }


def key_body(upload: dict[str, str]) -> list[str]:
    """The base64 lines of an upload's private key that are not also in its certificate (a PKCS#8 key
    carries the public key too, whose base64 can line up with the certificate's): what must never appear
    in an answer, a page, a log line or the audit. Never empty."""
    public = upload["certificate_pem"] + upload.get("chain_pem", "")
    lines = [
        line
        for line in upload["private_key_pem"].strip().splitlines()
        if not line.startswith("-----") and line not in public
    ]
    assert lines
    return lines


@pytest.fixture(scope="session")
def _door_pki(tmp_path_factory) -> DoorPKI:
    root = pki.root("Door Test Root")
    path = tmp_path_factory.mktemp("door-pki") / "roots.pem"
    path.write_text(pki.pem(root.cert))
    return DoorPKI(root=root, intermediate=pki.intermediate(root, "Door Test Intermediate"), roots_file=str(path))


@pytest.fixture
def tls_pki(_door_pki, settings) -> DoorPKI:
    settings.HOSTPANEL_CUSTOM_CA_BUNDLE = _door_pki.roots_file
    settings.HOSTPANEL_SECRETS_KEY = [Fernet.generate_key().decode()]
    return _door_pki
