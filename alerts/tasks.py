"""The alerts app's task (Django's tasks framework).

Alerts are evaluated after every balancer-manager poll (manage.py poll_status --loop); what is then due to
be sent is `deliver_notifications` (enqueued by alerts.receivers): a task of its own, never a wait inside
the poller's round. `manage.py alerts tick` also delivers retries when no poller runs."""

from __future__ import annotations

from django.tasks import task

from alerts.services import notifications_deliver_due


@task()
def deliver_notifications() -> int:
    """Send every message due, in parallel (each attempt a row); returns how many were attempted."""
    return len(notifications_deliver_due())
