"""The certificate of a site: GET and PUT (the customer's own) sites/{domain}/certificate/, POST
sites/{domain}/certificate/renew/. Thin doors into sites.services and certificates.selectors."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import permissions
from api.base.views import ApiMixin
from api.certificates.serializers import CertificateSerializer, CertificateUploadSerializer
from api.schema import ErrorSerializer
from certificates.models import Certificate
from certificates.selectors import certificate_detail, certificate_for_site
from hostpanel.validators import normalize_hostname
from sites.models import Site
from sites.services import site_certificate_renew, site_certificate_upload

NO_CERTIFICATE = OpenApiResponse(ErrorSerializer, description="No such site, or the site has no certificate yet.")


class _SiteCertificateDoor(ApiMixin, APIView):
    path_examples = {"domain": "linux.co.uk"}

    def site(self, domain: str) -> Site:
        try:  # the same normalisation as on save: case, final dot, IDN -> punycode
            domain = normalize_hostname(domain)
        except DjangoValidationError:
            raise Http404 from None
        return get_object_or_404(Site, domain=domain)

    def answer(self, certificate: Certificate | None, *, status: int = 200) -> Response:
        if certificate is None:
            raise Http404
        deployment = getattr(certificate, "deployment", None)
        detail = certificate_detail(certificate, addresses=permissions.sees_internal_addresses(self.request))
        body = {**detail, "deployment": getattr(deployment, "pk", None)}
        return Response(CertificateSerializer(body).data, status=status)


@method_decorator(sensitive_post_parameters("private_key_pem"), name="dispatch")  # kept out of error reports
class SiteCertificateView(_SiteCertificateDoor):
    """A site's TLS certificate. Billing and operator tokens may upload the customer's own."""

    operation_noun = "site_certificate"

    api_area = permissions.AREA_SITES

    @extend_schema(
        summary="A site's certificate, with its last ACME attempts",
        responses={200: CertificateSerializer, 404: NO_CERTIFICATE},
    )
    def get(self, request, domain: str):
        return self.answer(certificate_for_site(self.site(domain)))

    @extend_schema(
        summary="Set the customer's own certificate (the site switches to tls=custom)",
        description="Checked at the door: the PEM parses, the key matches, the chain verifies with the given "
        "intermediates, it covers the domain and every alias, it is within its validity, RSA >= 2048 bits or "
        "ECDSA P-256/P-384. A failed check answers 400 naming it under `errors.<field>`; nothing is saved. "
        "The private key is stored encrypted and never returned.",
        request=CertificateUploadSerializer,
        responses={200: CertificateSerializer},
    )
    def put(self, request, domain: str):
        site = self.site(domain)
        upload = CertificateUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        certificate = site_certificate_upload(site, actor=self.actor, **upload.validated_data)
        return self.answer(certificate)


class SiteCertificateRenewView(_SiteCertificateDoor):
    """Operator scope only: every order spends the CA's rate limits."""

    operation_noun = "site_certificate"

    api_area = permissions.AREA_INFRASTRUCTURE  # billing tokens may not, operator tokens may

    @extend_schema(
        operation_id="site_certificate_renew",
        summary="Renew now: order the site's ACME certificate at once, bypassing the backoff",
        description="For a site with tls=acme; 400 for a site with its own certificate or HTTP only. The order "
        "runs in the background: poll GET .../certificate/ (status renewing or pending, then valid).",
        request=None,
        responses={202: CertificateSerializer},
    )
    def post(self, request, domain: str):
        return self.answer(site_certificate_renew(self.site(domain), actor=self.actor), status=202)
