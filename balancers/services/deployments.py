"""Writes that start deployments: the automatic one every config change asks for (coalesced), manual
deploys and rollbacks. Each is a `Deployment` row handed to the task queue when the transaction commits;
the worker (deploy.tasks.run_deployment -> deploy.runner) does the rest."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.choices import DeploymentStatus, DeploymentTrigger
from balancers.models import Deployment, DeploymentCause, DeploymentHost, FrontEnd
from deploy.holds import ACCEPTED_ACTION, holds_release, import_holds
from deploy.queue import hand_over
from deploy.runner import host_rows_create
from deploy.tasks import run_deployment
from hostpanel import audit
from hostpanel.audit import Actor

log = logging.getLogger(__name__)


def config_changed(*, actor: Actor, cause: tuple[str, str] | None = None) -> Deployment | None:
    """Called by every service whose change affects the rendered Apache config, inside its
    transaction. Returns the automatic deployment that will carry the change, or None when
    automatic deploy is off (HOSTPANEL_AUTO_DEPLOY). `cause` is the change as (action, key), e.g.
    ("site.create", "x.example"): kept as a DeploymentCause row, the deployment pages' "why"."""
    if not settings.HOSTPANEL_AUTO_DEPLOY:
        return None
    deployment = request_automatic_deployment(actor=actor)
    if cause is not None:
        action, key = cause
        DeploymentCause.objects.create(
            deployment=deployment, action=action[:64], object_key=key[:255], actor=actor.name[:150], source=actor.source
        )
    return deployment


def deployment_enqueue(deployment_id: int) -> bool:
    """Hand the deployment to the task backend (deploy.queue.hand_over: counted, and
    `enqueued_at` recorded only when the queue took it). Runs on commit with robust=True: a queue that
    is down must not turn the user's saved change into an error; the deployment stays visible as
    queued, and the next change or the reaper hands it over again."""
    return hand_over(deployment_id, run_deployment.enqueue)


def request_automatic_deployment(*, actor: Actor) -> Deployment:
    """The config_changed hook: called inside the changing service's transaction. Reuses a still-queued
    automatic deployment (coalescing), else creates one and enqueues it when the transaction commits.
    A reused row that the queue never accepted (`enqueued_at` empty: the queue was down, or the process
    died between commit and enqueue) is handed over again on commit, so no change waits for a task that
    does not exist.

    The queued row is locked (select_for_update) until the caller commits, so a worker cannot claim it
    — and render — before this change is visible; the worker renders the state current when it runs."""
    with transaction.atomic():  # a savepoint inside the caller's transaction; a transaction of its own otherwise
        queued = (
            Deployment.objects.select_for_update()
            .filter(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC)
            .order_by("-created_at", "-id")
            .first()
        )
        if queued is not None:
            if queued.enqueued_at is None and queued.pk not in _scheduled():
                _enqueue_on_commit(queued.pk)
            return queued
        deployment = Deployment.objects.create(
            status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor=str(actor)[:150]
        )
        _enqueue_on_commit(deployment.pk)
        return deployment


_PENDING = threading.local()


def _scheduled() -> set[int]:
    """Deployments this thread has already asked to hand over when its transaction commits."""
    if not hasattr(_PENDING, "ids"):
        _PENDING.ids = set()
    return _PENDING.ids


def _enqueue_on_commit(deployment_id: int) -> None:
    _scheduled().add(deployment_id)

    def hand() -> None:
        _scheduled().discard(deployment_id)
        deployment_enqueue(deployment_id)

    transaction.on_commit(hand, robust=True)


@transaction.atomic
def deployment_start(
    *,
    actor: Actor,
    trigger: str = DeploymentTrigger.MANUAL,
    frontends: Iterable[FrontEnd] | None = None,
    enqueue: bool = True,
    accept_differences: bool = False,
) -> Deployment:
    """Queue a deployment of the current configuration to the given (default: every enabled) front-end.
    enqueue=False leaves it to the caller to run deployment_execute() (manage.py deploy, in the foreground).

    A front-end imported with equivalence differences nobody accepted (deploy.holds) is refused
    with a ValidationError, unless accept_differences: then the acceptance is audited and the hold ends."""
    chosen_names = [f.name for f in frontends] if frontends is not None else None
    if chosen_names is None:
        chosen_names = list(FrontEnd.objects.filter(enabled=True).values_list("name", flat=True))
    holds = import_holds(chosen_names)
    if holds and not accept_differences:
        raise ValidationError(
            "Deploying would replace a front-end's imported config that behaves differently: "
            + "; ".join(str(h) for h in holds.values())
            + ". Review the differences on the import page, then confirm that you accept them."
        )
    for frontend in FrontEnd.objects.filter(name__in=list(holds)):
        hold = holds[frontend.name]
        audit.record(
            actor,
            ACCEPTED_ACTION,
            frontend,
            key=frontend.name,
            before={"differences": hold.differences, "error": hold.error[:500], "check_entry": hold.entry_id},
            after={"accepted": True},
        )
    holds_release(holds)
    deployment = Deployment.objects.create(status=DeploymentStatus.QUEUED, trigger=trigger, actor=str(actor)[:150])
    if frontends is not None:
        chosen = list(frontends)
        if not chosen:
            raise ValueError("no front-end to deploy to")
        host_rows_create(deployment, chosen)
    names = sorted(h.frontend_name for h in deployment.hosts.all()) or ["every enabled front-end"]
    audit.record(
        actor,
        "deployment.start",
        deployment,
        key=f"deployment #{deployment.pk}",
        before=None,
        after={"trigger": trigger, "frontends": names},
    )
    if enqueue:
        transaction.on_commit(lambda: deployment_enqueue(deployment.pk), robust=True)
    return deployment


@transaction.atomic
def deployment_rollback(deployment: Deployment, *, actor: Actor) -> Deployment:
    """Queue a redeploy of exactly the trees an earlier deployment pushed, host by host."""
    hosts = [h for h in deployment.hosts.select_related("frontend") if h.tree_id and h.frontend_id]
    if not hosts:
        raise ValueError(f"deployment #{deployment.pk} has no stored tree to roll back to")
    rollback = Deployment.objects.create(
        status=DeploymentStatus.QUEUED,
        trigger=DeploymentTrigger.ROLLBACK,
        actor=str(actor)[:150],
        rollback_of=deployment,
        revision=deployment.revision,
        message=f"Rollback to deployment #{deployment.pk}",
    )
    DeploymentHost.objects.bulk_create(
        [
            DeploymentHost(deployment=rollback, frontend=h.frontend, frontend_name=h.frontend_name, tree_id=h.tree_id)
            for h in hosts
        ]
    )
    audit.record(
        actor,
        "deployment.rollback",
        rollback,
        key=f"deployment #{rollback.pk}",
        before=None,
        after={"rollback_of": deployment.pk, "frontends": sorted(h.frontend_name for h in hosts)},
    )
    transaction.on_commit(lambda: deployment_enqueue(rollback.pk), robust=True)
    return rollback
