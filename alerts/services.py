"""Writes of the alerts app: the debounce engine (conditions -> alerts -> notifications), deliveries with
retries and backoff, and alert channels (create, change, delete, test). Every door calls these.

Debounce, per (event, subject):
* a condition seen for the first time opens a *pending* alert; it *fires* (one message per channel that
  takes the event) once it has held for the event's grace period — counted from when it was first seen, so
  a flapping member fires once instead of never;
* an open alert is repeated every HOSTPANEL_ALERT_REPEAT_MINUTES while it holds;
* it *resolves* (one recovery message) only after it has been clear for the grace period; a condition that
  comes back before keeps the same alert (no second alert, no recovery): one alert and one recovery per problem.
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from alerts.choices import (
    ACTIVE_ALERT_STATES,
    DATABASE_EVENTS,
    POLL_EVENTS,
    AlertEvent,
    AlertState,
    ChannelKind,
    NotificationKind,
    NotificationStatus,
)
from alerts.conditions import Condition, database_conditions, poll_conditions, saturation_conditions
from alerts.delivery import Sent, deliver
from alerts.models import Alert, AlertChannel, DeliveryAttempt, Notification
from certificates.crypto import SecretsError, encrypt_secret
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from hostpanel.services import apply_fields, delete_audited, save_validated
from status.parse import FrontEndLive

log = logging.getLogger(__name__)

CHANNEL_FIELDS = ("name", "kind", "target", "events", "enabled")


def _seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)


def grace_for(event: str) -> datetime.timedelta:
    if event == AlertEvent.SATURATION:  # the condition holds only after HOSTPANEL_SATURATION_MINUTES already
        return datetime.timedelta(0)
    if event == AlertEvent.DRIFT:
        return _seconds(settings.HOSTPANEL_ALERT_DRIFT_GRACE_SECONDS)
    if event in POLL_EVENTS:
        return _seconds(settings.HOSTPANEL_ALERT_GRACE_SECONDS)
    return datetime.timedelta(0)  # a failed deployment or a certificate problem is news at once


def _panel_link(alert: Alert | None) -> str:
    base = settings.HOSTPANEL_PANEL_URL
    return f"{base}{alert.get_absolute_url()}" if base and alert is not None else ""


def payload_for(alert: Alert, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "event": alert.event,
        "alert": alert.pk,
        "subject": alert.subject,
        "summary": alert.summary if kind != NotificationKind.RECOVERY else f"Resolved: {alert.summary}",
        "detail": alert.detail,
        "state": alert.state,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "url": _panel_link(alert),
    }


def _notify(alert: Alert, kind: str, now: datetime.datetime) -> list[Notification]:
    channels = [c for c in AlertChannel.objects.filter(enabled=True) if alert.event in c.events]
    payload = payload_for(alert, kind)
    return Notification.objects.bulk_create(
        [
            Notification(alert=alert, channel=c, channel_name=c.name, kind=kind, payload=payload, next_attempt_at=now)
            for c in channels
        ]
    )


def alerts_reconcile(conditions: list[Condition], *, events: frozenset[str], now: datetime.datetime) -> list[Alert]:
    """Bring the alerts of `events` in line with what holds now; returns the alerts that changed state."""
    changed: list[Alert] = []
    current = {c.key: c for c in conditions if c.event in events}
    repeat = datetime.timedelta(minutes=settings.HOSTPANEL_ALERT_REPEAT_MINUTES)
    with transaction.atomic():
        active = {
            (a.event, a.subject): a
            for a in Alert.objects.select_for_update().filter(state__in=ACTIVE_ALERT_STATES, event__in=events)
        }
        for key, condition in current.items():
            alert = active.get(key)
            if alert is None:
                alert = Alert.objects.create(
                    event=condition.event,
                    subject=condition.subject[:300],
                    summary=condition.summary[:500],
                    detail=condition.detail,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            else:
                alert.last_seen_at, alert.clear_since, alert.detail = now, None, condition.detail
            if alert.state == AlertState.PENDING and now - alert.first_seen_at >= grace_for(alert.event):
                alert.state, alert.fired_at, alert.last_notified_at = AlertState.OPEN, now, now
                _notify(alert, NotificationKind.FIRE, now)
                changed.append(alert)
            elif alert.state == AlertState.OPEN and (
                alert.last_notified_at is None or now - alert.last_notified_at >= repeat  # None: never told yet
            ):
                alert.last_notified_at = now
                _notify(alert, NotificationKind.REPEAT, now)
            alert.save()
        for key, alert in active.items():
            if key in current:
                continue
            alert.clear_since = alert.clear_since or now
            if now - alert.clear_since < grace_for(alert.event):
                alert.save(update_fields=["clear_since"])
            elif alert.state == AlertState.PENDING:
                alert.delete()  # it never held for its grace period: nobody was told, nothing to recover from
            else:
                alert.state, alert.resolved_at = AlertState.RESOLVED, now
                alert.save(update_fields=["state", "resolved_at", "clear_since"])
                _notify(alert, NotificationKind.RECOVERY, now)
                changed.append(alert)
    return changed


def _backoff(attempts: int) -> datetime.timedelta:
    return _seconds(settings.HOSTPANEL_ALERT_RETRY_SECONDS) * (2 ** max(attempts - 1, 0))


def _claim(notification: Notification, now: datetime.datetime) -> bool:
    """A conditional UPDATE: of two workers that see the same message due, one sends it."""
    claim = now + datetime.timedelta(minutes=5)
    return (
        Notification.objects.filter(
            pk=notification.pk, status=NotificationStatus.PENDING, next_attempt_at=notification.next_attempt_at
        ).update(next_attempt_at=claim)
        == 1
    )


def _send(notification: Notification) -> Sent:
    """The network part of an attempt (no database access: it may run in a delivery thread)."""
    if notification.channel is None:
        return Sent(False, "the channel was deleted", 0.0)
    return deliver(notification.channel, notification.payload)


def _record(notification: Notification, sent: Sent, now: datetime.datetime) -> Notification:
    """The attempt as a row; on failure the next is scheduled with exponential backoff, until
    HOSTPANEL_ALERT_MAX_ATTEMPTS."""
    number = notification.attempts + 1
    DeliveryAttempt.objects.create(
        notification=notification, number=number, at=now, ok=sent.ok, detail=sent.detail[:500], seconds=sent.seconds
    )
    notification.attempts = number
    if sent.ok:
        notification.status, notification.sent_at, notification.next_attempt_at = NotificationStatus.SENT, now, None
    elif number >= int(settings.HOSTPANEL_ALERT_MAX_ATTEMPTS) or notification.channel is None:
        notification.status, notification.next_attempt_at = NotificationStatus.FAILED, None
        log.warning("giving up on %s after %s attempts: %s", notification, number, sent.detail)
    else:
        notification.next_attempt_at = now + _backoff(number)
    notification.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at"])
    return notification


def notification_deliver(notification: Notification, *, now: datetime.datetime | None = None) -> Notification:
    """One delivery attempt (a row), within the channel's deadline. Claimed first, so two workers never
    send it twice."""
    now = now or timezone.now()
    if not _claim(notification, now):
        notification.refresh_from_db()
        return notification
    return _record(notification, _send(notification), now)


def notifications_due(now: datetime.datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)


def notifications_deliver_due(*, now: datetime.datetime | None = None, limit: int = 100) -> list[Notification]:
    """Every message due, HOSTPANEL_ALERT_PARALLELISM at a time, so one slow receiver delays no other
    message. Only the sending runs in the delivery threads; the claims and rows are written here."""
    now = now or timezone.now()
    due = notifications_due(now).select_related("channel").order_by("next_attempt_at", "pk")[:limit]
    claimed = [n for n in due if _claim(n, now)]
    if not claimed:
        return []
    threads = min(len(claimed), int(settings.HOSTPANEL_ALERT_PARALLELISM))
    delivered = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alert-delivery") as pool:
        sending = {pool.submit(_send, n): n for n in claimed}  # each send ends by its channel's deadline
        for future in as_completed(sending):
            delivered.append(_record(sending[future], future.result(), now))
    return delivered


def alerts_evaluate(*, hosts: list[FrontEndLive] | None = None, now: datetime.datetime) -> list[Alert]:
    """The debounce alone (database only, no message sent): the database conditions always, the poll's
    (its hosts, and the mod_status samples it stored) when its hosts are given. Returns the alerts that
    fired or resolved."""
    changed = alerts_reconcile(database_conditions(now), events=DATABASE_EVENTS, now=now)
    if hosts is not None:
        found = poll_conditions(hosts) + saturation_conditions(now)
        changed += alerts_reconcile(found, events=POLL_EVENTS, now=now)
    return changed


def alerts_tick(*, hosts: list[FrontEndLive] | None = None, now: datetime.datetime | None = None) -> list[Alert]:
    """One evaluation, then the deliveries due (in parallel): `manage.py alerts tick`. After a poll the
    deliveries are a task of their own (alerts.receivers)."""
    now = now or timezone.now()
    changed = alerts_evaluate(hosts=hosts, now=now)
    notifications_deliver_due(now=now)
    return changed


# --- channels ----------------------------------------------------------------------------------------


def _set_secret(channel: AlertChannel, secret: str | None) -> None:
    if secret is None:
        return
    if not secret:
        channel.secret_encrypted = ""
        return
    if len(secret) > 500:
        raise ValidationError({"secret": "The secret must be at most 500 characters long."})
    try:
        channel.secret_encrypted = encrypt_secret(secret.encode())
    except SecretsError as exc:
        raise ValidationError({"secret": str(exc)}, code="secrets_key_missing") from None


def _check_file_channel(channel: AlertChannel, actor: Actor) -> None:
    """A file channel writes on the panel's own host: staff set it up in the panel (or manage.py), never a token."""
    if channel.kind == ChannelKind.FILE and actor.source == AuditEntry.Source.API:
        raise ValidationError(
            {"kind": "A file channel writes on the panel's host: staff set it up in the panel, not through the API."},
            code="file_channel_staff_only",
        )


@transaction.atomic
def alert_channel_create(*, actor: Actor, secret: str | None = None, **fields: Any) -> AlertChannel:
    channel = AlertChannel()
    apply_fields(channel, fields, CHANNEL_FIELDS)
    _check_file_channel(channel, actor)
    _set_secret(channel, secret)
    return save_validated(channel, actor=actor, action="alertchannel.create", key=channel.name)


@transaction.atomic
def alert_channel_update(
    channel: AlertChannel, *, actor: Actor, secret: str | None = None, **fields: Any
) -> AlertChannel:
    """Change a channel; secret=None keeps the stored secret, "" removes it."""
    channel = AlertChannel.objects.select_for_update().get(pk=channel.pk)
    before = audit.snapshot(channel)
    apply_fields(channel, fields, CHANNEL_FIELDS)
    _check_file_channel(channel, actor)
    _set_secret(channel, secret)
    return save_validated(channel, actor=actor, action="alertchannel.update", key=channel.name, before=before)


def alert_channel_delete(channel: AlertChannel, *, actor: Actor) -> None:
    delete_audited(channel, actor=actor, action="alertchannel.delete", key=channel.name)


def alert_channel_test(channel: AlertChannel, *, actor: Actor) -> Notification:
    """Send a test message now (one attempt; the retries follow like any other message's)."""
    now = timezone.now()
    payload = {
        "kind": NotificationKind.TEST,
        "event": "test",
        "alert": None,
        "subject": channel.name,
        "summary": f"Test message from HostPanel to {channel.name}, sent by {actor}",
        "detail": "If you read this, the channel works.",
        "state": "test",
        "first_seen_at": now.isoformat(),
        "fired_at": None,
        "resolved_at": None,
        "url": "",
    }
    notification = Notification.objects.create(
        channel=channel, channel_name=channel.name, kind=NotificationKind.TEST, payload=payload, next_attempt_at=now
    )
    return notification_deliver(notification, now=now)


# --- one-shot notices (e.g. a site's traffic quota: metering.services) -------------------------------


def alert_notice(
    *,
    event: str,
    subject: str,
    summary: str,
    detail: str = "",
    data: dict[str, Any] | None = None,
    now: datetime.datetime,
) -> Alert:
    """A notice, not a problem: an alert row that fires once and is done (state resolved, no recovery
    message), with one message to each enabled channel that takes `event`. `data` goes into the message
    under "data" (a billing webhook reads the site, month and figures there). The caller sends each notice
    once (metering.QuotaEvent is unique per site, month and kind)."""
    alert = Alert.objects.create(
        event=event,
        subject=subject[:300],
        summary=summary[:500],
        detail=detail,
        state=AlertState.RESOLVED,
        first_seen_at=now,
        last_seen_at=now,
        fired_at=now,
        last_notified_at=now,
        resolved_at=now,
    )
    payload = payload_for(alert, NotificationKind.FIRE) | {"state": "notice", "data": data or {}}
    channels = [c for c in AlertChannel.objects.filter(enabled=True) if event in c.events]
    Notification.objects.bulk_create(
        [
            Notification(
                alert=alert,
                channel=c,
                channel_name=c.name,
                kind=NotificationKind.FIRE,
                payload=payload,
                next_attempt_at=now,
            )
            for c in channels
        ]
    )
    return alert
