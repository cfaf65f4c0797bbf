"""Background jobs of the alerts app (Django's tasks framework, like balancers/tasks.py).

Alerts are evaluated after every balancer-manager poll (balancers.tasks.poll_status / manage.py poll_status
--loop), and what is then due to be sent is `deliver_notifications`: a task of its own, never a wait inside
the poller's round. `alerts_tick` also runs on its own, e.g. to deliver retries when no poller runs."""

from __future__ import annotations

from django.tasks import task

from alerts.services import alerts_tick, notifications_deliver_due


@task()
def evaluate_alerts() -> int:
    """One evaluation of the database conditions and the deliveries due; returns how many alerts changed."""
    return len(alerts_tick())


@task()
def deliver_notifications() -> int:
    """Send every message due, in parallel (each attempt a row); returns how many were attempted."""
    return len(notifications_deliver_due())
