"""Serializers of client sites: the site (with its certificate and whether its change is live) and
the suspend request. They translate; sites.services validates."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.reverse import reverse

from api.base.serializers import DeploymentIdField
from api.certificates.serializers import SiteCertificateField
from hostpanel.validators import BLOCKABLE_METHODS
from sites.choices import SiteKind
from sites.models import ManageAccess, Site, SiteStatus, SiteTls
from sites.selectors import SiteLiveness, site_liveness


class AliasNamesField(serializers.ListField):
    def get_attribute(self, instance: Site) -> list[str]:
        return [alias.name for alias in instance.aliases.all()]


class BalancerNameField(serializers.CharField):
    def get_attribute(self, instance: Site) -> str:
        return instance.balancer.name


class FrontendBalancerNameField(serializers.CharField):
    def get_attribute(self, instance: Site) -> str:
        return instance.frontend_balancer.name if instance.frontend_balancer_id else ""


class SiteSerializer(serializers.Serializer):
    answers_every_field = True  # api.schema: `aliases` and `customer_ref` are optional inputs, always answered

    domain = serializers.CharField(trim_whitespace=False, help_text="e.g. linux.co.uk; IDNs are stored as punycode.")
    aliases = AliasNamesField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True),
        required=False,
        help_text="Other host names of the site (ServerAlias). PATCH replaces the whole list.",
    )
    balancer = BalancerNameField(trim_whitespace=False, help_text="The balancer's name, e.g. bronze.")
    plone_path = serializers.CharField(trim_whitespace=False, help_text="The Plone site in Zope, e.g. /plone/linux.")
    # Plone 6 (README "Volto sites"): the service and the model validate; omitted on create = a Classic UI site
    kind = serializers.ChoiceField(
        choices=SiteKind.choices,
        required=False,
        help_text="classic (Zope renders every page; the default), volto (/++api++ to the balancer's Zope servers, "
        "every other path to the frontend balancer) or frontend_only (everything to the frontend balancer).",
    )
    frontend_balancer = FrontendBalancerNameField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The Node.js frontend balancer's name (volto and frontend_only sites); empty for classic.",
    )
    classic_ui_path = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Volto sites: Plone's Classic UI under this path (e.g. /ClassicUI) for the staff networks only "
        "(403 for others); empty: none.",
    )
    status = serializers.ChoiceField(choices=SiteStatus.choices, read_only=True)
    suspended_reason = serializers.CharField(read_only=True)
    customer_ref = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="The billing system's id for this client."
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    url = serializers.SerializerMethodField()
    deployment = DeploymentIdField()
    # HTTPS: the service validates the values; omitted on create = the model's defaults
    tls = serializers.ChoiceField(
        choices=SiteTls.choices,
        required=False,
        help_text="acme (the panel's ACME CA; the default when ACME is configured), custom (own certificate: "
        "PUT certificate/) or none (HTTP only).",
    )
    https_redirect = serializers.BooleanField(
        required=False, help_text="HTTP answers 301 to https once a certificate is live (default true)."
    )
    hsts_seconds = serializers.IntegerField(
        required=False, help_text="Strict-Transport-Security max-age; 0 = off (default), at most 63072000."
    )
    # site options (README, "Site options"): the service validates them; omitted on create = none set
    manage_access = serializers.ChoiceField(
        choices=ManageAccess.choices,
        required=False,
        help_text="Zope's management interface (manage, manage_main, manage_*): public (default), staff (only "
        "from the panel's staff networks, 403 for others) or blocked (403 for everyone).",
    )
    blocked_methods = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        help_text=f"HTTP methods Apache answers 405 without asking Zope, among {', '.join(BLOCKABLE_METHODS)}. "
        "PATCH replaces the whole list.",
    )
    passthrough_paths = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        help_text="Paths Apache serves itself, never proxied to Zope: a prefix ending in '/' (/icons/) or an exact "
        "path (/robots.txt). PATCH replaces the whole list.",
    )
    edit_host = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A host name for the same Plone site, answered only for the staff networks (403 for others); "
        "empty: none.",
    )
    certificate = SiteCertificateField()
    # --- is the site's current configuration live? (sites.selectors; HTTPS adds `certificate` here) ---
    live = serializers.SerializerMethodField(
        help_text="True when the latest change to the site is deployed to every enabled front-end "
        "(false while there is no enabled front-end, and while the last deployment left the site out: see left_out)."
    )
    left_out = serializers.SerializerMethodField(
        help_text="Why the last deployment left the site out of the front-ends' config (it serves at most its "
        "previous configuration, or nothing, until the row is repaired); empty when it did not."
    )
    pending_deployment = serializers.SerializerMethodField(
        help_text="While not live: the queued or running deployment that carries the latest change; "
        "null when none does (start one, or automatic deploy is off)."
    )

    def get_url(self, site: Site) -> str:
        return reverse("api:site-detail", args=[site.domain], request=self.context.get("request"))

    def _liveness(self, site: Site) -> SiteLiveness:
        # the fleet's side is read once per serializer context (a page of sites: two queries)
        state = self.context.get("deploy_state")
        return state.liveness(site) if state is not None else site_liveness(site)

    def get_live(self, site: Site) -> bool:
        return self._liveness(site)["live"]

    def get_pending_deployment(self, site: Site) -> int | None:
        return self._liveness(site)["pending_deployment"]

    def get_left_out(self, site: Site) -> str:
        return self._liveness(site)["left_out"]


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Shown to operators; at most 200 characters."
    )
