"""Customers' certificates are checked at the door; each failure names its check and its field."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.core.exceptions import ValidationError

from certificates.validation import covers, validate_custom_certificate
from devrig import pki

NAMES = ["example.com", "www.example.com"]


def check(test_pki, upload: dict[str, str], names=NAMES):
    return validate_custom_certificate(names=names, roots=(test_pki.root.cert,), **upload)


def failure(test_pki, upload, names=NAMES) -> tuple[str, str, str]:
    with pytest.raises(ValidationError) as info:
        check(test_pki, upload, names)
    [(field, [error])] = info.value.error_dict.items()
    return field, error.code, error.messages[0]


def test_it_accepts_a_certificate_for_the_domain_and_every_alias(test_pki):
    upload = test_pki.issue(NAMES)
    parsed = check(test_pki, upload)
    assert parsed.names == NAMES
    assert parsed.issuer == "CN=Test Intermediate"
    assert parsed.chain_pem.count("BEGIN CERTIFICATE") == 1
    assert "PRIVATE KEY" in parsed.private_key_pem
    assert "PRIVATE" not in repr(parsed)


def test_it_uses_the_configured_roots_by_default(test_pki):
    parsed = validate_custom_certificate(names=NAMES, **test_pki.issue(NAMES))
    assert parsed.serial


def test_it_accepts_the_full_chain_pasted_into_the_certificate_field(test_pki):
    upload = test_pki.issue(NAMES)
    upload["certificate_pem"] += upload.pop("chain_pem")
    assert check(test_pki, upload).chain_pem.count("BEGIN CERTIFICATE") == 1


def test_it_accepts_a_wildcard_covering_the_alias(test_pki):
    check(test_pki, test_pki.issue(["example.com", "*.example.com"]))


def test_it_rejects_a_certificate_that_does_not_parse(test_pki):
    upload = test_pki.issue(NAMES) | {"certificate_pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}
    assert failure(test_pki, upload)[:2] == ("certificate_pem", "certificate_unreadable")


def test_it_rejects_an_empty_certificate(test_pki):
    assert failure(test_pki, test_pki.issue(NAMES) | {"certificate_pem": ""})[:2] == (
        "certificate_pem",
        "certificate_unreadable",
    )


def test_it_rejects_a_key_that_does_not_parse(test_pki):
    upload = test_pki.issue(NAMES) | {"private_key_pem": "not a key"}
    assert failure(test_pki, upload)[:2] == ("private_key_pem", "private_key_unreadable")


def test_it_rejects_a_password_protected_key(test_pki):
    cert, key = pki.leaf(test_pki.intermediate, NAMES)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    upload = {
        "certificate_pem": pki.pem(cert),
        "private_key_pem": encrypted,
        "chain_pem": pki.pem(test_pki.intermediate.cert),
    }
    field, code, message = failure(test_pki, upload)
    assert (field, code) == ("private_key_pem", "private_key_unreadable")
    assert "password" in message


def test_it_rejects_a_chain_that_does_not_parse(test_pki):
    upload = test_pki.issue(NAMES) | {"chain_pem": "garbage"}
    assert failure(test_pki, upload)[:2] == ("chain_pem", "chain_unreadable")


def test_it_rejects_a_key_that_does_not_match(test_pki):
    upload = test_pki.issue(NAMES) | {"private_key_pem": pki.key_pem(ec.generate_private_key(ec.SECP256R1()))}
    field, code, message = failure(test_pki, upload)
    assert (field, code) == ("private_key_pem", "key_mismatch")
    assert "does not match" in message


def test_it_rejects_a_short_rsa_key(test_pki):
    key = pki.rsa_key(1024)
    upload = test_pki.issue(NAMES, key=key)
    field, code, message = failure(test_pki, upload)
    assert (field, code) == ("private_key_pem", "key_size")
    assert "1024" in message


def test_it_accepts_rsa_2048(test_pki):
    check(test_pki, test_pki.issue(NAMES, key=pki.rsa_key(2048)))


def test_it_accepts_p384(test_pki):
    check(test_pki, test_pki.issue(NAMES, key=ec.generate_private_key(ec.SECP384R1())))


def test_it_rejects_another_curve(test_pki):
    upload = test_pki.issue(NAMES, key=ec.generate_private_key(ec.SECP521R1()))
    assert failure(test_pki, upload)[:2] == ("private_key_pem", "key_curve")


def test_it_rejects_another_key_type(test_pki):
    upload = test_pki.issue(NAMES) | {"private_key_pem": pki.key_pem(ed25519.Ed25519PrivateKey.generate())}
    assert failure(test_pki, upload)[:2] == ("private_key_pem", "key_type")


def test_it_rejects_a_certificate_not_yet_valid(test_pki):
    start = pki.NOW + datetime.timedelta(days=2)
    upload = test_pki.issue(NAMES, not_before=start, not_after=start + datetime.timedelta(days=90))
    assert failure(test_pki, upload)[:2] == ("certificate_pem", "not_yet_valid")


def test_it_rejects_an_expired_certificate(test_pki):
    upload = test_pki.issue(
        NAMES, not_before=pki.NOW - datetime.timedelta(days=100), not_after=pki.NOW - datetime.timedelta(days=10)
    )
    field, code, message = failure(test_pki, upload)
    assert (field, code) == ("certificate_pem", "expired")
    assert "expired on" in message


def test_it_rejects_a_certificate_missing_an_alias(test_pki):
    field, code, message = failure(test_pki, test_pki.issue(["example.com"]))
    assert (field, code) == ("certificate_pem", "names_not_covered")
    assert "www.example.com" in message


def test_a_wildcard_does_not_cover_the_apex(test_pki):
    field, code, message = failure(test_pki, test_pki.issue(["*.example.com"]))
    assert code == "names_not_covered"
    assert "does not cover example.com" in message


def test_it_rejects_a_chain_missing_its_intermediate(test_pki):
    upload = test_pki.issue(NAMES) | {"chain_pem": ""}
    field, code, _ = failure(test_pki, upload)
    assert (field, code) == ("chain_pem", "chain_untrusted")


def test_it_rejects_a_chain_to_an_untrusted_root(test_pki):
    stranger = pki.root("Stranger Root")
    stranger_intermediate = pki.intermediate(stranger, "Stranger Intermediate")
    cert, key = pki.leaf(stranger_intermediate, NAMES)
    upload = {
        "certificate_pem": pki.pem(cert),
        "private_key_pem": pki.key_pem(key),
        "chain_pem": pki.pem(stranger_intermediate.cert) + pki.pem(stranger.cert),
    }
    assert failure(test_pki, upload)[:2] == ("chain_pem", "chain_untrusted")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("example.com", "example.com", True),
        ("Example.COM", "example.com", True),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "wwwexample.com", False),
        ("www.example.com", "example.com", False),
    ],
)
def test_wildcard_rules(pattern, name, expected):
    assert covers(pattern, name) is expected
