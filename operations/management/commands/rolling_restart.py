"""manage.py rolling_restart BALANCER: restart the balancer's servers (Zope or Node.js) one by one, in the foreground,
printing every step; --resume ID / --cancel ID for a stopped job; --background hands it to the worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from balancers.models import Balancer
from hostpanel.audit import Actor
from operations.choices import RestartStatus
from operations.models import RollingRestart, RollingRestartStep
from operations.runner import restart_execute
from operations.services import RestartRefused, rolling_restart_cancel, rolling_restart_resume, rolling_restart_start


class Command(BaseCommand):
    help = (
        "Rolling restart of a balancer's servers (Zope servers, or a Node.js frontend pool): drain, wait, restart, "
        "health, warm, undrain, settle."
    )

    def add_arguments(self, parser):
        parser.add_argument("balancer", nargs="?", help="The balancer's name (to start a new rolling restart).")
        parser.add_argument("--resume", type=int, metavar="ID", help="Resume the stopped rolling restart ID.")
        parser.add_argument("--cancel", type=int, metavar="ID", help="Cancel the rolling restart ID.")
        parser.add_argument("--background", action="store_true", help="Queue it for the task worker and return.")

    def handle(self, *args, balancer: str | None, resume: int | None, cancel: int | None, background: bool, **options):
        actor = Actor.command("manage.py rolling_restart")
        try:
            if cancel is not None:
                job = rolling_restart_cancel(self._job(cancel), actor=actor)
                self.stdout.write(
                    f"Rolling restart #{job.pk}: {job.status}{' (stopping)' if job.cancel_requested else ''}"
                )
                return
            if resume is not None:
                job = rolling_restart_resume(self._job(resume), actor=actor, enqueue=background)
            elif balancer:
                target = Balancer.objects.filter(name=balancer).first()
                if target is None:
                    raise CommandError(f"no balancer named {balancer!r}")
                job = rolling_restart_start(balancer=target, actor=actor, enqueue=background)
            else:
                raise CommandError("name a balancer, or give --resume ID or --cancel ID")
        except RestartRefused as exc:
            raise CommandError("refused: " + " ".join(exc.reasons)) from None
        self.stdout.write(f"Rolling restart #{job.pk} of {job.balancer.name}: {', '.join(job.routes)}")
        if background:
            self.stdout.write("Queued for the task worker.")
            return
        job = restart_execute(job.pk, on_step=self._progress)
        if job is None:
            raise CommandError("the job was claimed by another worker")
        style = self.style.SUCCESS if job.status == RestartStatus.SUCCEEDED else self.style.ERROR
        self.stdout.write(style(f"{job.status}: {job.message}"))
        if job.status != RestartStatus.SUCCEEDED:
            raise CommandError(f"rolling restart #{job.pk} {job.status}; resume with --resume {job.pk}")

    def _job(self, pk: int) -> RollingRestart:
        job = RollingRestart.objects.filter(pk=pk).select_related("balancer").first()
        if job is None:
            raise CommandError(f"no rolling restart #{pk}")
        return job

    def _progress(self, step: RollingRestartStep) -> None:
        detail = f": {step.detail.splitlines()[0]}" if step.detail and step.outcome != "running" else ""
        self.stdout.write(f"  {step.route}: {step.step} {step.outcome}{detail}")
