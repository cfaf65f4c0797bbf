"""Serializers of rolling restarts: the job with its steps, and the 202 answer of a start or a resume."""

from __future__ import annotations

from rest_framework import serializers

from operations.models import RollingRestart, RollingRestartStep


class RollingRestartStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RollingRestartStep
        fields = ["route", "step", "outcome", "detail", "started_at", "finished_at"]
        read_only_fields = fields


class RollingRestartSerializer(serializers.ModelSerializer):
    balancer = serializers.CharField(source="balancer.name", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:rollingrestart-detail")
    steps = RollingRestartStepSerializer(many=True, read_only=True)
    routes = serializers.ListField(child=serializers.CharField(), read_only=True)
    done_routes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = RollingRestart
        fields = [
            "id",
            "url",
            "balancer",
            "status",
            "actor",
            "routes",
            "done_routes",
            "cancel_requested",
            "message",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
        ]
        read_only_fields = fields


class RollingRestartAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField(help_text="GET it for the job's progress: one row per member and step.")
    status = serializers.CharField()
    routes = serializers.ListField(child=serializers.CharField(), help_text="The members, in restart order.")
