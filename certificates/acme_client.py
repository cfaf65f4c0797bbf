"""The panel's ACME client (RFC 8555), built on certbot's `acme` package and `cryptography`: no JWS by hand.

This is the only module that speaks to the CA. It knows nothing of sites or the database; the services
(certificates.services) decide what to order and record every attempt.

API::

    session = acme_connect(directory_url, account_key_pem=..., account_url="", ca_bundle="", timeout=45)
    account_url = account_ensure(session, email="ops@example.net")   # registers (ToS agreed) or finds it by key
    issued = order_certificate(session, ["example.com", "www.example.com"],
                               publish=publish, unpublish=unpublish, timeout=90)
    # issued.fullchain_pem, issued.private_key_pem (fresh ECDSA P-256 key), issued.order_url
    when = renewal_time(session, issued.fullchain_pem)    # ARI window if the CA offers it, else 1/3 lifetime left

`publish(token, key_authorization)` must make http://<name>/.well-known/acme-challenge/<token> answer
`key_authorization` on every front-end before it returns; `unpublish(token)` removes it (called whatever
happens). Every failure is an AcmeError carrying the CA's own words, its problem type, the order URL
(when there is one) and the CA's Retry-After.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import josepy as jose
import requests
from acme import challenges, crypto_util, errors, messages
from acme.client import ClientNetwork, ClientV2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certificates.choices import AttemptOutcome

log = logging.getLogger(__name__)

USER_AGENT = "HostPanel (acme-python)"
RATE_LIMIT_TYPES = {"urn:ietf:params:acme:error:rateLimited"}
BAD_NONCE_RETRIES = 3

Publish = Callable[[str, str], None]
Unpublish = Callable[[str], None]


class AcmeError(Exception):
    """An ACME attempt failed. `outcome` is an AttemptOutcome value; `ca_error` the CA's words."""

    def __init__(
        self,
        ca_error: str,
        *,
        outcome: str = AttemptOutcome.CA_ERROR,
        problem_type: str = "",
        retry_after: datetime.datetime | None = None,
        order_url: str = "",
    ) -> None:
        super().__init__(ca_error)
        self.ca_error = ca_error
        self.outcome = outcome
        self.problem_type = problem_type
        self.retry_after = retry_after
        self.order_url = order_url


@dataclass(frozen=True)
class IssuedCertificate:
    fullchain_pem: str
    order_url: str
    names: list[str]
    private_key_pem: str = field(repr=False)


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> datetime.datetime | None:
    """Retry-After (seconds or an HTTP date) as an aware UTC time; None when absent or junk."""
    if not value:
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    value = value.strip()
    if value.isdigit():
        return now + datetime.timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC)


class _Network(ClientNetwork):
    """acme's ClientNetwork that remembers the last response (for Retry-After) and retries bad nonces."""

    last_response: requests.Response | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_response = None
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_response = response
        return response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(BAD_NONCE_RETRIES):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")


@dataclass
class AcmeSession:
    """A connection to one ACME directory with the account's key (and, once known, its URL)."""

    directory_url: str
    client: ClientV2
    net: _Network
    account_url: str = ""

    def retry_after(self) -> datetime.datetime | None:
        response = self.net.last_response
        return parse_retry_after(response.headers.get("Retry-After")) if response is not None else None


def generate_private_key_pem() -> str:
    """A fresh ECDSA P-256 key (PKCS#8 PEM): every certificate and the account get their own."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _jwk(account_key_pem: str) -> tuple[jose.JWK, jose.JWASignature]:
    key = serialization.load_pem_private_key(account_key_pem.encode("ascii"), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": jose.ES256, "secp384r1": jose.ES384}[key.curve.name]
        return jose.JWKEC(key=key), alg
    return jose.JWKRSA(key=key), jose.RS256


def _problem_text(error: messages.Error) -> str:
    parts = [error.detail or error.title or error.description or str(error.typ)]
    for sub in error.subproblems or ():
        who = f"{sub.identifier.value}: " if sub.identifier else ""
        parts.append(f"{who}{sub.detail or sub.typ}")
    return "; ".join(p for p in parts if p)


def _translate(exc: Exception, session: AcmeSession, *, order_url: str = "") -> AcmeError:
    """Any failure of the acme package or the network as an AcmeError with the CA's words."""
    retry_after = session.retry_after()
    if isinstance(exc, AcmeError):
        return exc
    if isinstance(exc, messages.Error):
        status = session.net.last_response.status_code if session.net.last_response is not None else None
        limited = exc.typ in RATE_LIMIT_TYPES or status == 429
        return AcmeError(
            f"{exc.typ}: {_problem_text(exc)}",
            outcome=AttemptOutcome.RATE_LIMITED if limited else AttemptOutcome.CA_ERROR,
            problem_type=str(exc.typ),
            retry_after=retry_after,
            order_url=order_url,
        )
    if isinstance(exc, errors.ValidationError):
        lines = []
        problem_type = ""
        for authzr in exc.failed_authzrs:
            for challb in authzr.body.challenges:
                if challb.error is not None:
                    problem_type = problem_type or str(challb.error.typ)
                    lines.append(f"{authzr.body.identifier.value}: {challb.error.typ}: {_problem_text(challb.error)}")
        return AcmeError(
            "; ".join(lines) or str(exc), problem_type=problem_type, retry_after=retry_after, order_url=order_url
        )
    if isinstance(exc, errors.IssuanceError):
        return AcmeError(
            f"{exc.error.typ}: {_problem_text(exc.error)}",
            problem_type=str(exc.error.typ),
            retry_after=retry_after,
            order_url=order_url,
        )
    if isinstance(exc, errors.TimeoutError):
        return AcmeError("The CA did not finish the order in time.", retry_after=retry_after, order_url=order_url)
    if isinstance(exc, requests.RequestException):
        return AcmeError(
            f"The CA at {session.directory_url} cannot be reached: {exc}",
            outcome=AttemptOutcome.CA_UNREACHABLE,
            retry_after=retry_after,
            order_url=order_url,
        )
    if isinstance(exc, errors.Error):
        return AcmeError(f"ACME error: {exc}", retry_after=retry_after, order_url=order_url)
    raise exc


def acme_connect(
    directory_url: str,
    *,
    account_key_pem: str,
    account_url: str = "",
    ca_bundle: str = "",
    timeout: int = 45,
) -> AcmeSession:
    """Fetch the directory. `ca_bundle` is the CA file trusted for the ACME server's own HTTPS."""
    key, alg = _jwk(account_key_pem)
    # verify_ssl goes to requests' `verify`, which takes a CA file path as well as a bool (acme types it bool)
    net = _Network(key, alg=alg, verify_ssl=ca_bundle or True, user_agent=USER_AGENT, timeout=timeout)  # type: ignore[arg-type]
    session = AcmeSession(directory_url=directory_url, client=None, net=net)  # type: ignore[arg-type]
    try:
        directory = ClientV2.get_directory(directory_url, net)
    except Exception as exc:
        raise _translate(exc, session) from exc
    session.client = ClientV2(directory, net)
    if account_url:
        _use_account(session, account_url)
    return session


def _use_account(session: AcmeSession, account_url: str) -> None:
    session.account_url = account_url
    session.net.account = messages.RegistrationResource(uri=account_url, body=messages.Registration())


def account_ensure(session: AcmeSession, *, email: str = "") -> str:
    """The account's URL: registered now with the terms of service agreed, or found by its key."""
    if session.account_url:
        return session.account_url
    registration = messages.NewRegistration.from_data(email=email or None, terms_of_service_agreed=True)
    try:
        regr = session.client.new_account(registration)
        url = regr.uri
    except errors.ConflictError as exists:  # the key is already registered: the CA tells us where
        url = exists.location
    except Exception as exc:
        raise _translate(exc, session) from exc
    _use_account(session, url)
    return url


def _http01(authzr: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            return challb
    raise AcmeError(f"The CA offers no http-01 challenge for {authzr.body.identifier.value}.")


def order_certificate(
    session: AcmeSession,
    names: list[str],
    *,
    publish: Publish,
    unpublish: Unpublish,
    timeout: int = 90,
    private_key_pem: str | None = None,
) -> IssuedCertificate:
    """Order one certificate for `names` (first = subject), answer http-01 through publish(), finalize
    with a CSR from a fresh key, download the full chain. Raises AcmeError."""
    if not session.account_url:
        raise AcmeError("No ACME account: call account_ensure() first.")
    key_pem = private_key_pem or generate_private_key_pem()
    csr_pem = crypto_util.make_csr(key_pem.encode("ascii"), list(names))
    order_url = ""
    published: list[str] = []
    # acme's deadlines are naive local times
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    try:
        orderr = session.client.new_order(csr_pem)
        order_url = orderr.uri or ""
        answers = []
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue  # the CA still trusts an earlier validation of this name
            challb = _http01(authzr)
            response, validation = challb.response_and_validation(session.net.key)
            token = challb.chall.encode("token")
            try:
                publish(token, validation)
            except Exception as exc:
                raise AcmeError(
                    f"Publishing the http-01 challenge for {authzr.body.identifier.value} failed: {exc}",
                    outcome=AttemptOutcome.PUBLISH_FAILED,
                    order_url=order_url,
                ) from exc
            published.append(token)
            answers.append((challb, response))
        for challb, response in answers:  # only once every token is on every front-end
            session.client.answer_challenge(challb, response)
        finalized = session.client.poll_and_finalize(orderr, deadline)
    except Exception as exc:
        raise _translate(exc, session, order_url=order_url) from exc
    finally:
        for token in published:
            try:
                unpublish(token)
            except Exception:
                log.warning("could not remove the http-01 challenge %s", token, exc_info=True)
    return IssuedCertificate(
        fullchain_pem=finalized.fullchain_pem, order_url=order_url, names=list(names), private_key_pem=key_pem
    )


def renew_at_third_left(not_before: datetime.datetime, not_after: datetime.datetime) -> datetime.datetime:
    """When a third of the certificate's lifetime is left."""
    return not_after - (not_after - not_before) / 3


def renewal_time(session: AcmeSession | None, fullchain_pem: str) -> datetime.datetime:
    """When to renew: inside the CA's ARI window (renewalInfo) where it offers one, else at a third of the
    lifetime left. ARI failures fall back quietly (renewal must not depend on it)."""
    cert = x509.load_pem_x509_certificates(fullchain_pem.encode("ascii"))[0]
    fallback = renew_at_third_left(cert.not_valid_before_utc, cert.not_valid_after_utc)
    if session is None:
        return fallback
    try:
        when, _next_check = session.client.renewal_time(cert.public_bytes(serialization.Encoding.PEM))
    except (errors.Error, requests.RequestException, messages.Error, ValueError, KeyError):
        log.info("renewalInfo unavailable for serial %x; renewing at a third of the lifetime", cert.serial_number)
        return fallback
    if when is None:  # the CA offers no renewalInfo
        return fallback
    if when.tzinfo is None:
        when = when.astimezone(datetime.UTC)
    return fallback if when > cert.not_valid_after_utc else when
