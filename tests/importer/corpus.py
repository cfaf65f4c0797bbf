"""The importer's corpus of hand-written configs (tests/fixtures/importer/corpus, origins in its README), for the
test modules that read it: its path, a tree's preview, and a copy of an HTTPS tree with generated certificates."""

from __future__ import annotations

import shutil
from pathlib import Path

from devrig import pki
from importer.service import import_preview
from tests.samples import FIXTURES

CORPUS = FIXTURES / "importer" / "corpus"


def preview(name: str):
    return import_preview(CORPUS / name)


def https_tree(tmp_path: Path, authority, *, name="04-codesyntax-ssl-twin", domain="www.ssl-example.eus") -> Path:
    root = tmp_path / name
    shutil.copytree(CORPUS / name, root)
    cert, key = pki.leaf(authority.intermediate, [domain])
    (root / "ssl").mkdir()
    chain = pki.pem(authority.intermediate.cert)
    if "SSLCertificateChainFile" in "".join(p.read_text() for p in (root / "sites-enabled").iterdir()):
        (root / "ssl" / "chain.pem").write_text(chain)
        (root / "ssl" / f"{domain}.crt").write_text(pki.pem(cert))
    else:  # no chain file: the certificate file holds the full chain, as people write it
        (root / "ssl" / f"{domain}.crt").write_text(pki.pem(cert) + chain)
    (root / "ssl" / f"{domain}.key").write_text(pki.key_pem(key))
    return root
