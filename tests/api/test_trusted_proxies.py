"""Token network limits and the API throttle see the client behind the trusted TLS proxy
(HOSTPANEL_TRUSTED_PROXIES), and never a forged X-Forwarded-For from anywhere else."""

from __future__ import annotations

from django.test import RequestFactory
from rest_framework.request import Request
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create
from api.throttling import TokenRateThrottle
from hostpanel.audit import Actor

PROXY = "10.0.0.1"


def restricted_client(**meta) -> APIClient:
    name = f"net-{ApiToken.objects.count()}"
    _token, key = api_token_create(actor=Actor.command(), name=name, scope="read", allowed_networks=["192.0.2.0/24"])
    client = APIClient(**meta)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_behind_the_trusted_proxy_the_token_limit_sees_the_client(db, settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert (
        restricted_client(REMOTE_ADDR=PROXY).get("/api/v1/sites/", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 200
    )
    outside = restricted_client(REMOTE_ADDR=PROXY).get("/api/v1/sites/", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert outside.status_code == 401
    # the client wrote an allowed address first; the proxy appended the real one
    forged = restricted_client(REMOTE_ADDR=PROXY).get("/api/v1/sites/", HTTP_X_FORWARDED_FOR="192.0.2.7, 198.51.100.9")
    assert forged.status_code == 401


def test_a_forged_header_from_an_untrusted_address_is_ignored(db, settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    response = restricted_client(REMOTE_ADDR="198.51.100.1").get("/api/v1/sites/", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert response.status_code == 401


def throttle_ident(**meta) -> str:
    request = Request(RequestFactory().get("/api/v1/schema/", **meta))
    request.user = None
    request.auth = None
    return TokenRateThrottle().get_cache_key(request, None)


def test_the_throttle_counts_anonymous_callers_by_the_same_address(settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert throttle_ident(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5").endswith("addr-203.0.113.5")
    assert throttle_ident(REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.5").endswith("addr-198.51.100.1")
