"""Serializers only translate between JSON and the services' arguments: they check types, never
content. Every value is validated by the services (full_clean + hostpanel.validators), so a
hostile value gets the same message here as in the web panel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from api.readmodels import serializer_for
from api.serializers_certificates import SiteCertificateField
from balancers.models import Balancer, BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from balancers.selectors.overview import StatusOverview
from balancers.services import BALANCER_FIELDS, COMMAND_FIELDS, FRONTEND_FIELDS, MEMBER_FIELDS
from sites.choices import SiteStatus, SiteTls
from sites.models import Site
from sites.selectors import SiteLiveness, site_liveness


@extend_schema_field({"type": "integer", "nullable": True, "readOnly": True})
class DeploymentIdField(serializers.Field):
    """The id of the deployment this write triggered (null when none: automatic deploy off, or no change)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault(
            "help_text", "Id of the deployment this write triggered; null when none (GET, or automatic deploy off)."
        )
        super().__init__(**kwargs)

    def to_representation(self, instance: Any) -> int | None:
        deployment = getattr(instance, "deployment", None)
        return getattr(deployment, "pk", None)


class ServiceModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer without validators of its own (the services validate) and without
    silent whitespace trimming (a space in a host name must be refused, not removed)."""

    answers_every_field = True  # api.schema: every readable field is required in the response component

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        kwargs.pop("validators", None)
        for name in ("max_length", "min_length", "max_value", "min_value"):
            kwargs.pop(name, None)
        if issubclass(field_class, serializers.CharField):
            kwargs["trim_whitespace"] = False
        return field_class, kwargs

    def get_validators(self):
        return []  # uniqueness is the service's: a clash is a 409, not a serializer 400


# --- sites --------------------------------------------------------------------------------------


class AliasNamesField(serializers.ListField):
    def get_attribute(self, instance: Site) -> list[str]:
        return [alias.name for alias in instance.aliases.all()]


class BalancerNameField(serializers.CharField):
    def get_attribute(self, instance: Site) -> str:
        return instance.balancer.name


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


# --- infrastructure -----------------------------------------------------------------------------


class ZopeServerSerializer(ServiceModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:zopeserver-detail", lookup_field="name")
    deployment = DeploymentIdField()

    class Meta:
        model = ZopeServer
        fields = ["name", "host", "port", "description", "url", "deployment"]


class FrontEndSerializer(ServiceModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:frontend-detail", lookup_field="name")
    manager_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, help_text="Stored encrypted."
    )
    has_manager_password = serializers.SerializerMethodField()
    deployment = DeploymentIdField()

    class Meta:
        model = FrontEnd
        # every field the service may change, plus the read-only extras
        fields = [*FRONTEND_FIELDS, "has_manager_password", "url", "deployment"]
        # the shell commands are set by superusers in the panel only (docs/api.md): read-only here
        read_only_fields = COMMAND_FIELDS

    def get_has_manager_password(self, frontend: FrontEnd) -> bool:
        return bool(frontend.manager_password_encrypted)


class LiveApplySerializer(serializers.Serializer):
    frontend = serializers.CharField()
    applied = serializers.BooleanField()
    reason = serializers.CharField()
    live_status = serializers.CharField()


class LiveResultsField(serializers.Field):
    """After a PATCH of live toggles: each enabled front-end's outcome; null otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        super().__init__(**kwargs)

    def to_representation(self, instance: Any) -> list | None:
        return getattr(instance, "live_results", None)


@extend_schema_field(LiveApplySerializer(many=True, allow_null=True))
class DocumentedLiveResultsField(LiveResultsField):
    pass


class MemberSerializer(ServiceModelSerializer):
    balancer = serializers.SlugRelatedField(slug_field="name", queryset=Balancer.objects.all())
    zope_server = serializers.SlugRelatedField(slug_field="name", queryset=ZopeServer.objects.all())
    route = serializers.CharField(source="zope_server.name", read_only=True)
    state = serializers.CharField(read_only=True, help_text="active, hot standby, drain or disabled.")
    url = serializers.HyperlinkedIdentityField(view_name="api:member-detail")
    deployment = DeploymentIdField()
    force = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="PATCH: apply a toggle even if it leaves the balancer without a usable member.",
    )
    live = DocumentedLiveResultsField(
        help_text="PATCH of hot_standby/drain/disabled/loadfactor/lbset: the outcome on each enabled front-end."
    )

    class Meta:
        model = BalancerMember
        fields = [
            "id",
            "balancer",
            "zope_server",
            "route",
            *MEMBER_FIELDS,
            "state",
            "url",
            "deployment",
            "force",
            "live",
        ]


class NestedMemberSerializer(MemberSerializer):
    class Meta(MemberSerializer.Meta):
        fields = [f for f in MemberSerializer.Meta.fields if f not in {"balancer", "deployment", "force", "live"}]
        read_only_fields = fields


class BalancerSerializer(ServiceModelSerializer):
    members = NestedMemberSerializer(many=True, read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:balancer-detail", lookup_field="name")
    deployment = DeploymentIdField()

    class Meta:
        model = Balancer
        fields = [*BALANCER_FIELDS, "members", "url", "deployment"]


# --- deployments --------------------------------------------------------------------------------


class DeploymentHostSerializer(serializers.ModelSerializer):
    answers_every_field = True

    frontend = serializers.CharField(source="frontend_name", read_only=True)
    message = serializers.SerializerMethodField()

    class Meta:
        model = DeploymentHost
        fields = ["frontend", "status", "stage", "change_kind", "message", "duration", "started_at", "finished_at"]
        read_only_fields = fields

    def get_message(self, host: DeploymentHost) -> str:
        return host.error or host.output


class DeploymentSerializer(serializers.ModelSerializer):
    answers_every_field = True

    hosts = DeploymentHostSerializer(many=True, read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:deployment-detail")

    class Meta:
        model = Deployment
        fields = [
            "id",
            "status",
            "trigger",
            "actor",
            "revision",
            "rollback_of",
            "message",
            "created_at",
            "started_at",
            "finished_at",
            "hosts",
            "url",
        ]
        read_only_fields = fields


class DeploymentStartSerializer(serializers.Serializer):
    frontends = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_empty=False,
        help_text="Names of the front-ends to deploy to; all enabled front-ends when omitted.",
    )


class DeploymentAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


# --- live status --------------------------------------------------------------------------------


# GET /api/v1/status/ returns balancers.selectors.overview.status_overview() as it is; its serializer (for the
# OpenAPI schema) is derived from the same TypedDicts the dashboard reads: the shape is written once.
StatusOverviewSerializer = serializer_for(StatusOverview)


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.CharField(help_text="The natural key of the deleted object.")
    deployment = serializers.IntegerField(allow_null=True, help_text="The deployment that carries the change.")
