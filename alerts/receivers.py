"""Signal receivers of the alerts app, connected when the app is ready (alerts/apps.py)."""

from __future__ import annotations

from alerts.services import alerts_tick
from balancers.status.poller import PollResult, polled


def evaluate_after_poll(sender, *, hosts, taken_at, **kwargs) -> None:
    """Every balancer-manager poll (balancers.status.poller.polled) is one alerts evaluation."""
    alerts_tick(hosts=hosts, now=taken_at)


polled.connect(evaluate_after_poll, sender=PollResult, dispatch_uid="alerts_after_poll")
