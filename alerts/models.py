"""Alerts: channels (e-mail, webhook) with the events they receive, alerts with their debounce state, and
every message and delivery attempt as a row (healthchecks: "every attempt is a row")."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from alerts.choices import (
    ACTIVE_ALERT_STATES,
    AlertEvent,
    AlertState,
    ChannelKind,
    NotificationKind,
    NotificationStatus,
)
from hostpanel.validators import (
    validate_alert_file_name,
    validate_http_url,
    validate_no_control_characters,
    validate_slug_name,
)


class AlertChannel(models.Model):
    """Where alerts go: an e-mail address or a webhook URL, and which events it receives."""

    name = models.CharField(max_length=64, validators=[validate_slug_name], help_text="e.g. oncall-mail")
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    target = models.CharField(
        max_length=500,
        validators=[validate_no_control_characters],
        help_text="An e-mail address, an http(s) URL, or a file name under the var directory's alerts/.",
    )
    events = models.JSONField(default=list, help_text="Event names this channel receives.")
    secret_encrypted = models.TextField(blank=True, help_text="Webhook HMAC secret, Fernet-encrypted.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    audit_redacted_fields = ("secret_encrypted",)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="alertchannel_name_unique",
                violation_error_code="unique",
                violation_error_message="An alert channel with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ChannelKind.values),
                name="alertchannel_kind_valid",
                violation_error_message="Unknown channel kind.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("alerts:channel_list")

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.kind == ChannelKind.EMAIL:
            try:
                EmailValidator(message="Enter an e-mail address.")(self.target)
            except ValidationError as exc:
                errors["target"] = exc.messages[0]
        elif self.kind == ChannelKind.FILE:
            try:
                validate_alert_file_name(self.target)
            except ValidationError as exc:
                errors["target"] = exc.messages[0]
        elif self.kind == ChannelKind.WEBHOOK:
            try:
                validate_http_url(self.target)
            except ValidationError:
                errors["target"] = "Enter an http(s) URL for the webhook."
            if not self.secret_encrypted:
                errors["secret"] = "A webhook needs a shared secret: the receiver checks X-HostPanel-Signature with it."  # noqa: S105 - a message
        events = self.events if isinstance(self.events, list) else None
        if not events or not all(isinstance(e, str) and e in AlertEvent.values for e in events):
            errors["events"] = "Give a list of event names: " + ", ".join(AlertEvent.values) + "."
        else:
            self.events = sorted(set(events), key=AlertEvent.values.index)
        if errors:
            raise ValidationError(errors)


class Alert(models.Model):
    """One problem (an event about a subject, e.g. member_down of fe1/bronze/zope2), from first seen to resolved.

    pending: seen, not yet for the grace period; open: fired (messages sent); resolved: clear for the grace
    period, recovery sent. While active, a condition that clears and comes back (a flapping member) stays the
    same alert: it neither fires again nor resolves until it has been clear for the whole grace period."""

    event = models.CharField(max_length=32, choices=AlertEvent.choices)
    subject = models.CharField(max_length=300, help_text="What it is about, e.g. fe1/bronze/zope2.")
    summary = models.CharField(max_length=500)
    detail = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.PENDING)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    clear_since = models.DateTimeField(null=True, blank=True, help_text="When the condition was last seen clearing.")
    fired_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subject"],
                condition=Q(state__in=ACTIVE_ALERT_STATES),
                name="alert_one_active_per_subject",
            )
        ]
        indexes = [models.Index(fields=["state", "event"], name="alert_state_event_idx")]

    def __str__(self) -> str:
        return f"{self.event} {self.subject} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("alerts:alert_detail", args=[self.pk])


class Notification(models.Model):
    """One message (fire, repeat, recovery or test) to one channel, delivered with retries and backoff."""

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(AlertChannel, null=True, on_delete=models.SET_NULL, related_name="notifications")
    channel_name = models.CharField(max_length=64, help_text="Kept when the channel is deleted.")
    kind = models.CharField(max_length=10, choices=NotificationKind.choices)
    payload = models.JSONField(help_text="The message: the webhook's JSON body, and the e-mail's content.")
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel_name} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try to deliver a notification: the SMTP or HTTP outcome, in words."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["notification_id", "number"]

    def __str__(self) -> str:
        return f"{self.notification_id}#{self.number} {'ok' if self.ok else 'failed'}"
