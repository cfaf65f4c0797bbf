from django.db import models


class AlertEvent(models.TextChoices):
    MEMBER_DOWN = "member_down", "A member is down on a front-end"
    FRONTEND_DOWN = "frontend_down", "A front-end stops answering"
    DEPLOYMENT_FAILED = "deployment_failed", "A deployment failed"
    DEPLOYMENT_REVERTED = "deployment_reverted", "A deployment was reverted by the post-deploy probes"
    HOST_BEHIND = "host_behind", "A deployment left a front-end behind"
    DRIFT = "drift", "Intended and live state disagree"
    CERTIFICATE_FAILING = "certificate_failing", "A certificate fails to renew"
    CERTIFICATE_EXPIRING = "certificate_expiring", "A certificate expires within 14 days"
    DEPLOYMENT_WAITING = "deployment_waiting", "A deployment waits in the queue past the longest requeue wait"
    SATURATION = "saturation", "A front-end's Apache workers stay (nearly) all busy"
    USAGE_BACKLOG = "usage_backlog", "A front-end's usage logs wait uncollected past the bound"
    SITE_QUOTA = "site_quota", "A site reaches 80 % or 100 % of its monthly traffic quota (or is suspended by it)"


# Evaluated from each status poll (balancer-manager and mod_status); the others from the database at every tick.
POLL_EVENTS = frozenset({AlertEvent.MEMBER_DOWN, AlertEvent.FRONTEND_DOWN, AlertEvent.DRIFT, AlertEvent.SATURATION})
# One-shot notices (alerts.services.alert_notice): sent once, never debounced nor resolved by a tick.
NOTICE_EVENTS = frozenset({AlertEvent.SITE_QUOTA})
DATABASE_EVENTS = frozenset(set(AlertEvent.values) - POLL_EVENTS - NOTICE_EVENTS)


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook (JSON POST, HMAC-signed)"
    FILE = "file", "File on the panel's host (one JSON line per message, under the var dir's alerts/)"


class AlertState(models.TextChoices):
    PENDING = "pending", "Pending (within the grace period)"
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


ACTIVE_ALERT_STATES = (AlertState.PENDING, AlertState.OPEN)


class NotificationKind(models.TextChoices):
    FIRE = "fire", "Alert"
    REPEAT = "repeat", "Reminder"
    RECOVERY = "recovery", "Recovery"
    TEST = "test", "Test message"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
