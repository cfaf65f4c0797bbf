"""Serializers of deployments: the deployment with its per-front-end rows, the start request and the
202 answer of a start or a rollback."""

from __future__ import annotations

from rest_framework import serializers

from balancers.models import Deployment, DeploymentHost


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
