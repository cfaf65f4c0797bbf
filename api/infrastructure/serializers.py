"""Serializers of the inventory: Zope servers, front-ends, balancers and members (with the outcome of a
member's live toggles). The field lists are the services' (balancers.services)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.base.serializers import DeploymentIdField
from balancers.models import Balancer, BalancerMember, FrontEnd, ZopeServer
from balancers.services import BALANCER_FIELDS, COMMAND_FIELDS, FRONTEND_FIELDS, MEMBER_FIELDS


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


class ZopeServerSerializer(ServiceModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:zopeserver-detail", lookup_field="name")
    deployment = DeploymentIdField()

    class Meta:
        model = ZopeServer
        fields = [
            "name",
            "kind",
            "host",
            "port",
            "description",
            "health_path",
            "health_method",
            "health_interval",
            "health_passes",
            "health_fails",
            "url",
            "deployment",
        ]


class FrontEndSerializer(ServiceModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:frontend-detail", lookup_field="name")
    manager_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, help_text="Stored encrypted."
    )
    has_manager_password = serializers.SerializerMethodField()
    deployment = DeploymentIdField()
    apache_facts = serializers.JSONField(
        read_only=True,
        help_text="The front-end's Apache as last read by the connection test or a deployment: version, mpm, "
        "limits, modules, vhosts (per address: the default vhost and whether it is HostPanel's, with advice), "
        "errors, and release_proof (why the last deployment could not prove HostPanel's vhost answers; empty "
        "when it did).",
    )

    class Meta:
        model = FrontEnd
        # every field the service may change, plus the read-only extras
        fields = [*FRONTEND_FIELDS, "has_manager_password", "url", "deployment", "apache_facts"]
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
    kind = serializers.CharField(
        source="balancer.kind", read_only=True, help_text="zope or node: the kind of its balancer and server."
    )
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
            "kind",
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
