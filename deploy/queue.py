"""Handing a deployment to the task queue, with the bookkeeping the reaper needs.

`hand_over(id, enqueue)` counts the attempt and records `enqueued_at` only when the queue accepted the
task; a queue that is down leaves `enqueued_at` empty and says so in the deployment's message, so the
next config change (balancers.services.deployments) or the reaper (deploy.reaper) hands it
over again. Handing over twice is harmless: a worker claims a deployment with a conditional UPDATE and
the second task finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db.models import F
from django.utils import timezone

from balancers.choices import DeploymentStatus
from balancers.models import Deployment
from deploy.wake import notify_workers

log = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = (
    "Could not be handed to the task queue ({error}); it stays queued and is handed over again by the "
    "next change or by the reaper (HOSTPANEL_DEPLOY_REQUEUE_SECONDS)."
)


def hand_over(deployment_id: int, enqueue: Callable[[int], object]) -> bool:
    """Give the deployment to the queue; True when the queue took it. Never raises for a queue error."""
    Deployment.objects.filter(pk=deployment_id).update(enqueue_attempts=F("enqueue_attempts") + 1)
    now = timezone.now()
    # Recorded before the call: an immediate backend runs the whole deployment inside enqueue().
    Deployment.objects.filter(
        pk=deployment_id, status=DeploymentStatus.QUEUED, message__startswith="Could not be handed"
    ).update(message="")
    Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.QUEUED).update(enqueued_at=now)
    try:
        enqueue(deployment_id)
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the row must tell the truth
        log.exception("could not enqueue deployment #%s; it stays queued", deployment_id)
        Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.QUEUED).update(
            enqueued_at=None, message=QUEUE_DOWN_MESSAGE.format(error=f"{type(exc).__name__}: {exc}"[:300])
        )
        return False
    notify_workers()  # an idle deploy_worker on this machine starts it now, not at its next poll
    return True
