"""Checks for certificates at the door, and reading certificates the panel stores.

API::

    parsed = validate_custom_certificate(
        certificate_pem=..., private_key_pem=..., chain_pem=..., names=["example.com", "www.example.com"]
    )                                    # ParsedCertificate, or ValidationError keyed by the failing field
    parsed = parse_issued(fullchain_pem, key_pem)   # what the ACME client downloaded (no trust check)
    covers("*.example.com", "www.example.com")      # wildcard rules: one label, never the apex
    uncovered_names(certificate_names, site_names)  # the site's names the certificate does not cover
    unused_names(certificate_names, site_names)     # the certificate's names that cover none of the site's:
                                                    # accepted on an upload but never served with this site

The checks run in this order, each failure naming the check (error code in brackets):
PEM parses [certificate_unreadable / private_key_unreadable / chain_unreadable], the certificate field starts
with the site's own certificate, not a CA's [certificate_is_ca], key type and size
[key_type / key_size / key_curve], key matches [key_mismatch], validity [not_yet_valid / expired],
covers the domain and every alias [names_not_covered], chain verifies with the given intermediates up
to a trusted root [chain_untrusted; a self-signed certificate is said under the certificate field]. Every message
is in plain words under the field to change: the parser's and verifier's own texts are never shown.
Trusted roots: HOSTPANEL_CUSTOM_CA_BUNDLE, else certifi's bundle.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from functools import cache

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import DNSName, PolicyBuilder, Store, VerificationError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

MIN_RSA_BITS = 2048
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)


@dataclass(frozen=True)
class ParsedCertificate:
    """What the panel keeps of a certificate. The key never appears in repr."""

    certificate_pem: str
    chain_pem: str
    names: list[str]
    not_before: datetime.datetime
    not_after: datetime.datetime
    issuer: str
    serial: str
    private_key_pem: str = field(repr=False, default="")


def _error(field_name: str, message: str, code: str) -> ValidationError:
    return ValidationError({field_name: ValidationError(message, code=code)})


FIELD_WORDS = {
    "certificate_pem": "Certificate",
    "chain_pem": "Intermediate certificates",
    "private_key_pem": "Private key",
}


def _unreadable_pem(text: str, field_name: str) -> str:
    """Why a pasted text is not certificates, in the words of someone who pasted it (never the parser's)."""
    if "PRIVATE KEY-----" in text:
        return "This is a private key, not a certificate: paste it into the Private key field."
    if "-----BEGIN CERTIFICATE-----" not in text:
        return (
            "No certificate found (PEM text expected): paste everything from -----BEGIN CERTIFICATE----- "
            "to -----END CERTIFICATE-----, "
            "both lines included."
        )
    if text.count("-----BEGIN CERTIFICATE-----") != text.count("-----END CERTIFICATE-----"):
        return "A certificate is cut off: its -----END CERTIFICATE----- line is missing. Copy it again, whole."
    what = "an intermediate certificate" if field_name == "chain_pem" else "the certificate"
    return (
        f"The text of {what} is damaged (a character missing, added or changed between the BEGIN and END lines). "
        "Copy it again from the file your certificate authority sent."
    )


def load_certificates(pem: str, field_name: str, *, required: bool) -> list[x509.Certificate]:
    text = (pem or "").strip()
    if not text:
        if required:
            raise _error(
                field_name,
                "No certificate was given: paste it, from -----BEGIN CERTIFICATE----- on, or choose its file.",
                "certificate_unreadable",
            )
        return []
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        code = "chain_unreadable" if field_name == "chain_pem" else "certificate_unreadable"
        raise _error(field_name, _unreadable_pem(text, field_name), code) from None
    return certs


def _load_key(private_key_pem: str):
    text = (private_key_pem or "").strip()
    try:
        return serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except TypeError:
        raise _error(
            "private_key_pem",
            "The private key is protected by a password: upload it without one "
            "(e.g. `openssl pkey -in key.pem -out plain.pem`); the panel stores it encrypted.",
            "private_key_unreadable",
        ) from None
    except (ValueError, UnicodeEncodeError):
        if not text:
            message = "No private key was given: paste it, from -----BEGIN PRIVATE KEY----- on, or choose its file."
        elif "-----BEGIN CERTIFICATE-----" in text:
            message = "This is a certificate, not a private key: paste the key that belongs to the certificate here."
        elif "PRIVATE KEY-----" not in text:
            message = (
                "No private key found: paste everything from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----."
            )
        else:
            message = "The private key's text is damaged or cut off: copy it again, whole."
        raise _error("private_key_pem", message, "private_key_unreadable") from None


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string() or "no name"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_leaf_first(leaf: x509.Certificate, extra: list[x509.Certificate]) -> None:
    """The certificate field's first certificate must be the site's own, not a CA's (a reversed chain, or the
    CA's certificate pasted by mistake): said under the certificate field, before the key is compared with it."""
    if not _is_ca(leaf):
        return
    own = next((c for c in extra if not _is_ca(c)), None)
    hint = (
        f" The site's own certificate ({_subject(own)}) comes later: put it first, its intermediates after it."
        if own is not None
        else " Paste the certificate issued for the site here; the CA's certificates go into the Intermediate field."
    )
    raise _error(
        "certificate_pem",
        f"The first certificate is a certificate authority's ({_subject(leaf)}), not the site's own.{hint}",
        "certificate_is_ca",
    )


def _untrusted(leaf: x509.Certificate, chain: list[x509.Certificate], reason: str) -> ValidationError:
    """A failed chain verification in plain words, under the field the user has to change."""
    if leaf.issuer == leaf.subject:
        return _error(
            "certificate_pem",
            "The certificate is self-signed: browsers do not trust it. Upload one issued by a certificate authority.",
            "chain_untrusted",
        )
    names = leaf.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    issuer = str(names[0].value) if names else leaf.issuer.rfc4514_string() or "its issuer"
    if "signature" in reason:
        message = (
            f"The chain does not verify: these intermediate certificates did not issue this certificate (it was "
            f"issued by {issuer}). Paste the intermediates of the authority that issued it."
        )
    elif not chain:
        message = (
            f"The chain does not verify: the intermediate certificate is missing. Paste the one(s) {issuer} sent "
            "with the certificate (not the root), here or after the certificate."
        )
    else:
        message = (
            f"The chain does not verify up to a root this panel trusts (issuer: {issuer}). Check that the "
            "intermediates are the ones sent with the certificate, or ask the administrator to add the authority's "
            "root (HOSTPANEL_CUSTOM_CA_BUNDLE)."
        )
    return _error("chain_pem", message, "chain_untrusted")


def check_key_strength(public_key, field_name: str) -> None:
    """RSA of at least 2048 bits, or ECDSA on P-256 or P-384."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise _error(
                field_name, f"The RSA key has {public_key.key_size} bits; at least {MIN_RSA_BITS} needed.", "key_size"
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ALLOWED_CURVES):
            raise _error(
                field_name, f"The ECDSA curve {public_key.curve.name} is not allowed; use P-256 or P-384.", "key_curve"
            )
    else:
        raise _error(field_name, "The key type is not allowed; use RSA (2048+ bits) or ECDSA P-256/P-384.", "key_type")


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.get_values_for_type(x509.DNSName)]


def covers(pattern: str, name: str) -> bool:
    """Whether a certificate name covers a host name: exact, or `*.` matching exactly one left-most label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:] and "*" not in pattern[2:]
    return False


def uncovered_names(certificate_names: list[str], names: list[str]) -> list[str]:
    """Those of a site's `names` that no name of the certificate covers."""
    return [name for name in names if not any(covers(pattern, name) for pattern in certificate_names)]


def unused_names(certificate_names: list[str], names: list[str]) -> list[str]:
    """Those of the certificate's names (or wildcards) that cover none of a site's `names`: another site's
    names, say. The HTTPS vhost never answers for them (rendering.sites)."""
    return [pattern for pattern in certificate_names if not any(covers(pattern, name) for name in names)]


@cache
def _roots_from(path: str) -> tuple[x509.Certificate, ...]:
    with open(path, "rb") as handle:
        return tuple(x509.load_pem_x509_certificates(handle.read()))


def trusted_roots() -> tuple[x509.Certificate, ...]:
    return _roots_from(settings.HOSTPANEL_CUSTOM_CA_BUNDLE or certifi.where())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _describe(leaf: x509.Certificate, chain: list[x509.Certificate], key_pem: str) -> ParsedCertificate:
    return ParsedCertificate(
        certificate_pem=_pem(leaf),
        chain_pem="".join(_pem(c) for c in chain),
        names=dns_names(leaf),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        issuer=leaf.issuer.rfc4514_string()[:500],
        serial=format(leaf.serial_number, "x"),
        private_key_pem=key_pem,
    )


def _normalised_key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def validate_custom_certificate(
    *,
    certificate_pem: str,
    private_key_pem: str,
    chain_pem: str = "",
    names: list[str],
    now: datetime.datetime | None = None,
    roots: tuple[x509.Certificate, ...] | None = None,
) -> ParsedCertificate:
    """Every check of a customer's certificate for a site whose host names are `names` (domain first)."""
    now = now or timezone.now()
    certs = load_certificates(certificate_pem, "certificate_pem", required=True)
    leaf, extra = certs[0], certs[1:]  # a full chain pasted into the certificate field is accepted
    chain = extra + load_certificates(chain_pem, "chain_pem", required=False)

    _check_leaf_first(leaf, extra)
    key = _load_key(private_key_pem)
    check_key_strength(key.public_key(), "private_key_pem")
    check_key_strength(leaf.public_key(), "certificate_pem")
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise _error(
            "private_key_pem",
            f"This private key does not match the certificate for {_subject(leaf)}: upload the key that was made "
            "together with this certificate's request.",
            "key_mismatch",
        )

    if now < leaf.not_valid_before_utc:
        raise _error(
            "certificate_pem",
            f"The certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            "not_yet_valid",
        )
    if now >= leaf.not_valid_after_utc:
        raise _error(
            "certificate_pem", f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.", "expired"
        )

    san = dns_names(leaf)
    uncovered = uncovered_names(san, names)
    if uncovered:
        listed = ", ".join(san) or "no DNS names"
        raise _error(
            "certificate_pem",
            f"The certificate does not cover {', '.join(uncovered)} (it names {listed}).",
            "names_not_covered",
        )

    try:
        store = Store(list(roots if roots is not None else trusted_roots()))
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(DNSName(names[0]))
        verifier.verify(leaf, chain)
    except (VerificationError, ValueError) as exc:
        raise _untrusted(leaf, chain, str(exc)) from None

    return _describe(leaf, chain, _normalised_key_pem(key))


def parse_issued(fullchain_pem: str, private_key_pem: str) -> ParsedCertificate:
    """Describe a certificate the CA just issued (leaf + chain as downloaded). Trust is the CA's business."""
    certs = load_certificates(fullchain_pem, "certificate_pem", required=True)
    return _describe(certs[0], certs[1:], private_key_pem)
