"""The one test PKI of the rig, made with cryptography: root -> intermediate -> leaf, a trusted PKI that writes
its roots file and issues what a customer would upload, and pebble's self-signed localhost certificate.

    trusted = TrustedPKI.create(directory)        # root + intermediate, directory/roots.pem
    trusted.issue(["example.com", "www.example.com"])   # {certificate_pem, private_key_pem, chain_pem}
    trusted.issue(names, not_after=..., key=rsa_key(1024))   # a bad one, for the checks at the door
    root("Bench Root"); intermediate(root); leaf(intermediate, names)   # the parts, for a bench
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Authority:
    cert: x509.Certificate
    key: object


def _ca(cn: str, key, issuer: Authority | None) -> Authority:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=30))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return Authority(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


def root(cn: str = "Test Root") -> Authority:
    return _ca(cn, ec.generate_private_key(ec.SECP384R1()), None)


def intermediate(parent: Authority, cn: str = "Test Intermediate") -> Authority:
    return _ca(cn, ec.generate_private_key(ec.SECP256R1()), parent)


def leaf(
    issuer: Authority,
    names: list[str],
    *,
    key=None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> tuple[x509.Certificate, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=89))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return cert, key


def rsa_key(bits: int):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class TrustedPKI:
    """A root and an intermediate, the root written to `roots_file` (what HOSTPANEL_CUSTOM_CA_BUNDLE names)."""

    root: Authority
    intermediate: Authority
    roots_file: str

    @classmethod
    def create(cls, directory: Path, cn: str = "Test Root") -> TrustedPKI:
        authority = root(cn)
        path = Path(directory) / "roots.pem"
        path.write_text(pem(authority.cert))
        return cls(root=authority, intermediate=intermediate(authority), roots_file=str(path))

    @property
    def root_pem(self) -> str:
        return pem(self.root.cert)

    def issue(self, names: list[str], **kw) -> dict[str, str]:
        """certificate_pem / private_key_pem / chain_pem for `names`, as a customer would upload them."""
        cert, key = leaf(self.intermediate, names, **kw)
        return {"certificate_pem": pem(cert), "private_key_pem": key_pem(key), "chain_pem": pem(self.intermediate.cert)}


def write_localhost_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for localhost / 127.0.0.1: pebble's own HTTPS (Debian ships none)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_text(pem(cert))
    key_path.write_text(key_pem(key))
    key_path.chmod(0o600)
