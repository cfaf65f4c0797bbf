"""Writes of the operations app: a Zope server's restart settings, and rolling restarts (start, resume,
cancel). Every door (web, API, manage.py) calls these; they validate, audit and queue the job."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.models import Balancer, ZopeServer
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import apply_fields, save_validated
from operations.choices import RestartStatus
from operations.models import COMMAND_FIELDS, RollingRestart, ZopeServerOps
from operations.selectors import restart_plan, restart_refusals
from operations.tasks import run_rolling_restart

log = logging.getLogger(__name__)

OPS_FIELDS = ("health_path", *COMMAND_FIELDS)


class RestartRefused(Exception):  # noqa: N818 - a refusal, shown to the operator as it is
    """A rolling restart that cannot run (409 in the API): every reason, in words."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


def zope_server_ops_update(
    zope_server: ZopeServer, *, actor: Actor, allow_commands: bool, **fields: Any
) -> ZopeServerOps:
    """Change how a Zope server is restarted. The restart command and its SSH login decide what runs where:
    only a superuser may change them (allow_commands, which the door sets from the user)."""
    with transaction.atomic():
        ops, created = ZopeServerOps.objects.select_for_update().get_or_create(zope_server=zope_server)
        commands = [n for n in COMMAND_FIELDS if n in fields and fields[n] != getattr(ops, n)]
        if commands and not allow_commands:
            raise ValidationError(
                {
                    n: "Only a superuser may change this field (it decides what runs on the Zope host)."
                    for n in commands
                },
                code="superuser_only",
            )
        before = None if created else audit.snapshot(ops)
        apply_fields(ops, fields, OPS_FIELDS)
        return save_validated(ops, actor=actor, action="zopeserver.ops", key=zope_server.name, before=before)


def _enqueue(job_id: int) -> None:
    try:
        run_rolling_restart.enqueue(job_id)
    except Exception:
        log.exception("could not enqueue rolling restart #%s; it stays queued", job_id)
        RollingRestart.objects.filter(pk=job_id, status=RestartStatus.QUEUED).update(
            message="Could not be handed to the task queue; resume it once the worker's queue is up."
        )


@transaction.atomic
def rolling_restart_start(*, balancer: Balancer, actor: Actor, enqueue: bool = True) -> RollingRestart:
    """Queue a rolling restart of the balancer's usable members, or raise RestartRefused with every reason
    it cannot run (a member without a restart command, a single usable member, one already running).
    enqueue=False leaves running it to the caller (manage.py rolling_restart, in the foreground)."""
    Balancer.objects.select_for_update().filter(pk=balancer.pk).first()  # one start at a time per balancer
    reasons = restart_refusals(balancer)
    if reasons:
        raise RestartRefused(reasons)
    job = RollingRestart.objects.create(
        balancer=balancer, actor=str(actor)[:150], routes=[m.route for m in restart_plan(balancer)]
    )
    audit.record(
        actor, "rollingrestart.start", job, key=f"rolling restart #{job.pk}", before=None, after={"routes": job.routes}
    )
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job.pk), robust=True)
    return job


@transaction.atomic
def rolling_restart_resume(job: RollingRestart, *, actor: Actor, enqueue: bool = True) -> RollingRestart:
    """Queue a stopped (failed or cancelled) job again: it goes on with the first member not yet done,
    from that member's drain."""
    job = RollingRestart.objects.select_for_update().get(pk=job.pk)
    if not job.can_resume:
        raise RestartRefused(
            [f"Rolling restart #{job.pk} is {job.status}: only a stopped job with members left resumes."]
        )
    others = RollingRestart.objects.filter(
        balancer_id=job.balancer_id, status__in=[RestartStatus.QUEUED, RestartStatus.RUNNING]
    )
    if others.exclude(pk=job.pk).exists():
        raise RestartRefused([f"Another rolling restart of {job.balancer.name} is queued or running."])
    RollingRestart.objects.filter(pk=job.pk).update(status=RestartStatus.QUEUED, cancel_requested=False, message="")
    job.refresh_from_db()
    audit.record(actor, "rollingrestart.resume", job, key=f"rolling restart #{job.pk}", before=None, after=None)
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job.pk), robust=True)
    return job


@transaction.atomic
def rolling_restart_cancel(job: RollingRestart, *, actor: Actor) -> RollingRestart:
    """Stop a job: a queued or stopped one at once, a running one at its next safe point (never between a
    member's restart and its health check). A member the job drained and did not restart gets its drain back."""
    job = RollingRestart.objects.select_for_update().get(pk=job.pk)
    if not job.can_cancel:
        raise RestartRefused([f"Rolling restart #{job.pk} is {job.status}: nothing to cancel."])
    if job.status == RestartStatus.RUNNING:
        RollingRestart.objects.filter(pk=job.pk).update(cancel_requested=True)
    else:
        note = " A member it stopped on may still be drained: check the dashboard." if job.status == "failed" else ""
        RollingRestart.objects.filter(pk=job.pk).update(
            status=RestartStatus.CANCELLED, cancel_requested=True, message=f"Cancelled by {actor}.{note}"
        )
    job.refresh_from_db()
    audit.record(actor, "rollingrestart.cancel", job, key=f"rolling restart #{job.pk}", before=None, after=None)
    return job
