"""Reads of the alerts app: the alerts page (open first, then past) and an alert with every attempt."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Prefetch, Value, When

from alerts.choices import AlertState, NotificationKind, NotificationStatus
from alerts.models import Alert, AlertChannel, Notification


def alerts_page(*, limit: int = 200) -> list[Alert]:
    """Open and pending alerts first, then the past ones, newest first; each with `delivered` (its alert
    message reached at least one channel)."""
    order = Case(When(state=AlertState.RESOLVED, then=Value(1)), default=Value(0), output_field=IntegerField())
    alerts = list(
        Alert.objects.annotate(past=order)
        .order_by("past", "-first_seen_at", "-id")
        .prefetch_related(Prefetch("notifications", queryset=Notification.objects.order_by("created_at")))[:limit]
    )
    for alert in alerts:
        fired = [n for n in alert.notifications.all() if n.kind == NotificationKind.FIRE]
        sent = [n.sent_at for n in fired if n.status == NotificationStatus.SENT and n.sent_at]
        alert.delivered_at = min(sent) if sent else None
        alert.message_count = len(alert.notifications.all())
    return alerts


def alert_with_attempts(alert: Alert) -> list[Notification]:
    return list(alert.notifications.order_by("created_at", "id").prefetch_related("delivery_attempts"))


def channels() -> list[AlertChannel]:
    return list(AlertChannel.objects.order_by("name"))


def recent_tests(channel: AlertChannel, *, limit: int = 5) -> list[Notification]:
    return list(
        Notification.objects.filter(channel=channel, kind=NotificationKind.TEST)
        .prefetch_related("delivery_attempts")
        .order_by("-created_at")[:limit]
    )
