"""Serializers of alerts: a channel (`secret` write-only, never answered), an alert with its
notifications and each notification's delivery attempts."""

from __future__ import annotations

from rest_framework import serializers

from alerts.choices import AlertEvent, ChannelKind
from alerts.models import Alert, AlertChannel, DeliveryAttempt, Notification


class AlertChannelSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertEvent.choices), help_text="Event names this channel receives."
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Webhooks: the shared HMAC secret (write-only; stored encrypted). Empty removes it.",
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = AlertChannel
        fields = ["id", "name", "kind", "target", "events", "enabled", "secret", "has_secret", "created_at"]
        read_only_fields = ["id", "has_secret", "created_at"]
        extra_kwargs = {"name": {"validators": []}, "target": {"trim_whitespace": False}}


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "at", "ok", "detail", "seconds"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel_name", read_only=True)
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "channel", "kind", "status", "attempts", "created_at", "sent_at", "delivery_attempts"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    notifications = NotificationSerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "event",
            "subject",
            "summary",
            "detail",
            "state",
            "first_seen_at",
            "last_seen_at",
            "fired_at",
            "resolved_at",
            "notifications",
        ]
        read_only_fields = fields
