"""Certificate pages of a site ("Renew now", "Upload own certificate"): thin doors into
certificates.site_services. The certificate itself is shown on the site page (sites.views)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_post_parameters

from certificates import site_services
from certificates.forms import CertificateUploadForm
from hostpanel.templatetags.panel import hostname
from hostpanel.web import ConfirmView, ServiceFormView, web_actor
from sites.models import Site


class CertificateRenewView(ConfirmView):
    title = "Renew the certificate now"
    button = "Renew now"

    def get_object(self):
        return get_object_or_404(Site, domain=self.kwargs["domain"])

    def question(self, site):
        return f"Order a new certificate for {hostname(site.domain)} and its aliases now?"

    def details(self, site):
        return (
            "The order skips the waiting time after a failure. Each order counts against the CA's limits "
            "(5 failed validations per name per hour): renew again only after fixing what failed."
        )

    def perform(self, site, data):
        site_services.site_certificate_renew(site, actor=web_actor(self.request))
        return (
            f"Renewal of {site.domain} requested: the certificate is ordered by the next worker run.",
            site.get_absolute_url(),
        )


@method_decorator(sensitive_post_parameters("private_key_pem"), name="dispatch")  # kept out of error reports
class CertificateUploadView(ServiceFormView):
    form_class = CertificateUploadForm
    submit_label = "Upload certificate"

    @cached_property
    def site(self) -> Site:
        # looked up lazily, after the permission check in dispatch()
        return get_object_or_404(Site, domain=self.kwargs["domain"])

    @property
    def title(self):
        return f"Upload own certificate for {hostname(self.site.domain)}"

    def get_cancel_url(self):
        return self.site.get_absolute_url()

    def perform(self, data):
        return site_services.site_certificate_upload(self.site, actor=web_actor(self.request), **data)

    def success_message(self, certificate):
        message = f"Own certificate of {self.site.domain} saved (valid until {certificate.not_after:%Y-%m-%d})."
        unused = getattr(certificate, "unused_names", [])
        if unused:
            message += f" Ignored (not names of this site, never served with it): {', '.join(unused)}."
        return message

    def success_url_for(self, certificate):
        return self.site.get_absolute_url()
