"""The reaper (`manage.py reap [--loop]`): no deployment stays stuck or lies.

* a `running` deployment whose heartbeat lease expired (its worker was killed, or lost the database)
  is marked `failed`, every unfinished host row says at which stage the worker stopped and what that
  means for the host, each host it may have changed is recorded as "activated release unknown" (so the
  next deployment runs configtest and reload whatever the files say), and one retry is queued;
* a queued automatic deployment that a newer queued one covers is marked `superseded` (the newer one
  renders the state current when it runs, so it carries every change the older one was asked for);
* a `queued` deployment that no worker claimed within HOSTPANEL_DEPLOY_REQUEUE_SECONDS of its last
  hand-over (the queue was down, the process died between commit and enqueue, the queue lost it) is
  handed to the queue again, with the wait doubling at each attempt up to HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS
  (one that waits longer than that raises the deployment_waiting alert: alerts.conditions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStage, HostStatus
from balancers.models import ActivatedRelease, DeployLock, Deployment, DeploymentHost
from deploy.queue import hand_over

log = logging.getLogger(__name__)

REAPER_ACTOR = "system (reaper)"
# Stages at or after which a host may have been changed (config_dir switched, Apache reloaded).
TOUCHING_STAGES = frozenset(
    {HostStage.SWAP, HostStage.CONFIGTEST, HostStage.RELOAD, HostStage.VERIFY, HostStage.RESTORE}
)


@dataclass
class ReapResult:
    failed: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def supersede_covered(*, by: Deployment | None = None) -> list[int]:
    """Mark `superseded` every queued automatic deployment that `by` (a deployment of the current state
    to every enabled front-end, just claimed) or, without `by`, the newest queued automatic one covers.
    Rows locked by a change still in flight (select_for_update in request_automatic_deployment) are
    skipped: that change is not committed yet, so nothing may claim to carry it."""
    with transaction.atomic():
        queued = list(
            Deployment.objects.select_for_update(skip_locked=True)
            .filter(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC)
            .order_by("-created_at", "-id")
        )
        if by is None:
            if len(queued) < 2:
                return []
            by, covered = queued[0], queued[1:]
        else:
            covered = [d for d in queued if d.pk != by.pk]
        ids = [d.pk for d in covered]
        if ids:
            Deployment.objects.filter(pk__in=ids, status=DeploymentStatus.QUEUED).update(
                status=DeploymentStatus.SUPERSEDED,
                superseded_by=by,
                finished_at=timezone.now(),
                message=f"Superseded by deployment #{by.pk}, which deploys the state current when it runs.",
            )
    return ids


def _stopped_message(host: DeploymentHost, deployment: Deployment) -> str:
    expired = f"{deployment.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC" if deployment.lease_expires_at else "unknown"
    text = (
        f"The worker running this deployment stopped (killed, or it lost the database) at stage "
        f"'{host.stage}'; its lease expired at {expired}."
    )
    if host.stage in TOUCHING_STAGES:
        return text + (
            " config_dir may point at the new release, which was not (fully) checked: the host's activated "
            "release is recorded as unknown and the next deployment runs configtest and reload."
        )
    return text + " It stopped before switching config_dir: the live config was not touched."


def fail_dead(deployment: Deployment, *, now: datetime) -> bool:
    """Fail one running deployment whose lease expired (a conditional UPDATE: a live worker's
    heartbeat in between wins). Returns True when this call failed it."""
    with transaction.atomic():
        done = Deployment.objects.filter(
            pk=deployment.pk, status=DeploymentStatus.RUNNING, lease_expires_at=deployment.lease_expires_at
        ).update(
            status=DeploymentStatus.FAILED,
            finished_at=now,
            message=(
                f"The worker stopped before finishing (lease expired); failed by the reaper. "
                f"{deployment.message}".strip()
            ),
        )
        if not done:
            return False
        for host in deployment.hosts.filter(status__in=[HostStatus.PENDING, HostStatus.RUNNING]):
            DeploymentHost.objects.filter(pk=host.pk).update(
                status=HostStatus.FAILED, error=_stopped_message(host, deployment), retryable=True, finished_at=now
            )
            if host.frontend_id and host.stage in TOUCHING_STAGES:
                ActivatedRelease.objects.update_or_create(
                    frontend_id=host.frontend_id,
                    defaults={
                        "digest": "",
                        "tree": None,
                        "deployment": deployment,
                        "changed_at": now,
                        "note": f"unknown: the worker of deployment #{deployment.pk} stopped at stage {host.stage}",
                    },
                )
        DeployLock.objects.filter(owner__startswith=f"deployment-{deployment.pk}-", expires_at__lt=now).update(
            owner="", expires_at=None
        )
    log.warning("deployment #%s: its worker stopped; marked failed", deployment.pk)
    return True


def _retry_of(dead: Deployment) -> Deployment | None:
    """One new deployment that finishes what a dead one started (never a retry of a retry)."""
    if dead.actor == REAPER_ACTOR:
        return None
    message = f"Retry of deployment #{dead.pk}, whose worker stopped."
    if dead.trigger == DeploymentTrigger.ROLLBACK:
        retry = Deployment.objects.create(
            status=DeploymentStatus.QUEUED,
            trigger=DeploymentTrigger.ROLLBACK,
            actor=REAPER_ACTOR,
            rollback_of=dead.rollback_of,
            revision=dead.revision,
            message=message,
        )
        DeploymentHost.objects.bulk_create(
            [
                DeploymentHost(deployment=retry, frontend_id=h.frontend_id, frontend_name=h.frontend_name, tree=h.tree)
                for h in dead.hosts.filter(frontend__isnull=False, tree__isnull=False)
            ]
        )
        return retry
    queued = Deployment.objects.filter(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC).first()
    return queued or Deployment.objects.create(
        status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor=REAPER_ACTOR, message=message
    )


def requeue_wait(attempts: int, bound: timedelta, cap: timedelta) -> timedelta:
    """How long after its last hand-over a queued deployment is handed over again: the bound, doubled per
    attempt, never more than the cap (nor less than the bound)."""
    return min(bound * 2 ** min(max(attempts - 1, 0), 16), max(cap, bound))


def _due_for_requeue(deployment: Deployment, now: datetime, bound: timedelta, cap: timedelta) -> bool:
    if deployment.enqueued_at is None:
        return deployment.created_at < now - bound
    return deployment.enqueued_at < now - requeue_wait(deployment.enqueue_attempts, bound, cap)


def reap(*, enqueue: Callable[[int], object], now: datetime | None = None) -> ReapResult:
    """One round of the reaper (see the module docstring); `enqueue` hands a deployment id to the queue."""
    now = now or timezone.now()
    result = ReapResult()
    lease = timedelta(seconds=settings.HOSTPANEL_DEPLOY_LEASE_SECONDS)
    dead = Deployment.objects.filter(status=DeploymentStatus.RUNNING).filter(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, started_at__lt=now - lease)
    )
    for deployment in list(dead):
        if fail_dead(deployment, now=now):
            result.failed.append(deployment.pk)
            retry = _retry_of(deployment)
            if retry is not None:
                result.retries.append(retry.pk)
    result.superseded = supersede_covered()
    bound = timedelta(seconds=settings.HOSTPANEL_DEPLOY_REQUEUE_SECONDS)
    cap = timedelta(seconds=settings.HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS)
    for deployment in Deployment.objects.filter(status=DeploymentStatus.QUEUED).order_by("created_at", "id"):
        if deployment.pk in result.retries or _due_for_requeue(deployment, now, bound, cap):
            hand_over(deployment.pk, enqueue)
            result.requeued.append(deployment.pk)
    return result
