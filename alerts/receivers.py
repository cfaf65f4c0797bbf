"""Signal receivers of the alerts app, connected when the app is ready (alerts/apps.py)."""

from __future__ import annotations

from alerts.services import alerts_evaluate, notifications_due
from alerts.tasks import deliver_notifications
from status.poller import PollResult, polled


def evaluate_after_poll(sender, *, hosts, taken_at, **kwargs) -> None:
    """Every balancer-manager poll (status.poller.polled) is one alerts evaluation; the messages
    it makes due are sent by a task of their own, so a slow receiver never holds the poller's next round."""
    alerts_evaluate(hosts=hosts, now=taken_at)
    if notifications_due(taken_at).exists():
        deliver_notifications.enqueue()


polled.connect(evaluate_after_poll, sender=PollResult, dispatch_uid="alerts_after_poll")
