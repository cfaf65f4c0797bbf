"""The ACME client's own arithmetic and error mapping (the protocol itself is tested against pebble)."""

from __future__ import annotations

import datetime

import requests
from acme import messages

from certificates import acme_client
from certificates.acme_client import AcmeError, AcmeSession, _Network, parse_retry_after, renew_at_third_left
from certificates.choices import AttemptOutcome

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def test_retry_after_in_seconds():
    assert parse_retry_after("120", now=NOW) == NOW + datetime.timedelta(minutes=2)


def test_retry_after_as_an_http_date():
    assert parse_retry_after("Tue, 01 Dec 2026 13:30:00 GMT", now=NOW) == NOW + datetime.timedelta(minutes=90)


def test_junk_retry_after_is_ignored():
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_renewal_at_a_third_of_the_lifetime_left():
    start = NOW
    assert renew_at_third_left(start, start + datetime.timedelta(days=90)) == start + datetime.timedelta(days=60)


def _session_with(status: int, headers: dict[str, str]) -> AcmeSession:
    net = _Network(None)
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    net.last_response = response
    return AcmeSession(directory_url="https://ca.example/dir", client=None, net=net)


def test_a_rate_limit_carries_the_cas_words_and_retry_after():
    error = messages.Error(
        typ="urn:ietf:params:acme:error:rateLimited", detail="too many certificates (5) already issued"
    )
    mapped = acme_client._translate(error, _session_with(429, {"Retry-After": "3600"}), order_url="https://o/1")
    assert isinstance(mapped, AcmeError)
    assert mapped.outcome == AttemptOutcome.RATE_LIMITED
    assert "too many certificates (5) already issued" in mapped.ca_error
    assert mapped.problem_type == "urn:ietf:params:acme:error:rateLimited"
    assert mapped.order_url == "https://o/1"
    assert mapped.retry_after is not None
    assert mapped.retry_after > datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=59)


def test_a_429_without_the_rate_limit_type_is_still_a_rate_limit():
    error = messages.Error(typ="about:blank", detail="slow down")
    assert acme_client._translate(error, _session_with(429, {})).outcome == AttemptOutcome.RATE_LIMITED


def test_another_ca_error_keeps_its_type():
    error = messages.Error(typ="urn:ietf:params:acme:error:rejectedIdentifier", detail="name is blocked")
    mapped = acme_client._translate(error, _session_with(400, {}))
    assert mapped.outcome == AttemptOutcome.CA_ERROR
    assert mapped.ca_error == "urn:ietf:params:acme:error:rejectedIdentifier: name is blocked"


def test_a_network_failure_means_the_ca_is_unreachable():
    mapped = acme_client._translate(requests.ConnectionError("refused"), _session_with(200, {}))
    assert mapped.outcome == AttemptOutcome.CA_UNREACHABLE
    assert "cannot be reached" in mapped.ca_error


def test_fresh_keys_are_ecdsa_p256():
    pem = acme_client.generate_private_key_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert pem != acme_client.generate_private_key_pem()
