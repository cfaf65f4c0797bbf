"""manage.py deploy [--frontend NAME ...] [--dry-run]: deploy now, in the foreground, with per-host progress."""

from __future__ import annotations

import threading

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from balancers.choices import DeploymentStatus, HostStatus
from balancers.models import DeploymentHost, FrontEnd
from balancers.selectors.inventory import enabled_frontends, frontends_named
from balancers.services import deployment_start
from deploy.checks import frontend_pending_diff
from deploy.runner import deployment_execute
from deploy.transport.protocol import TransportError
from hostpanel.audit import Actor
from rendering.manifest import diff_paths
from rendering.routes import CHANGE_KIND_TEXT, change_kind


class Command(BaseCommand):
    help = "Render the current configuration and deploy it to the front-ends (or show the diff with --dry-run)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--frontend", action="append", default=[], metavar="NAME", help="Only this front-end (repeatable)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change on each host; change nothing."
        )
        parser.add_argument(
            "--accept-differences",
            action="store_true",
            help="Deploy to a front-end even though its imported config's equivalence check found differences.",
        )

    def handle(self, *args, frontend: list[str], dry_run: bool, accept_differences: bool, **options):
        frontends = self._frontends(frontend)
        if dry_run:
            return self._dry_run(frontends)
        try:
            deployment = deployment_start(
                actor=Actor.command("manage.py deploy"),
                frontends=frontends,
                enqueue=False,
                accept_differences=accept_differences,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages) + " (--accept-differences)") from None
        self.stdout.write(f"Deployment #{deployment.pk} to {', '.join(f.name for f in frontends)}")
        lock = threading.Lock()
        seen: dict[int, tuple[str, str]] = {}

        def progress(host: DeploymentHost) -> None:
            state = (host.status, host.stage)
            with lock:
                if seen.get(host.pk) != state:
                    seen[host.pk] = state
                    self.stdout.write(f"  {host.frontend_name}: {host.stage} ({host.status})")

        deployment = deployment_execute(deployment.pk, on_progress=progress)
        if deployment is None:
            raise CommandError("the deployment was claimed by another worker")
        for host in deployment.hosts.order_by("frontend_name"):
            line = (
                f"{host.frontend_name}: {host.status} — {host.files_uploaded} file(s), "
                f"{host.bytes_uploaded} bytes uploaded, {host.duration or 0:.2f} s"
            )
            style = (
                self.style.SUCCESS if host.status in {HostStatus.SUCCEEDED, HostStatus.UNCHANGED} else self.style.ERROR
            )
            self.stdout.write(style(line))
            if host.error:
                self.stdout.write(f"    {host.error}")
            if host.output and host.status not in {HostStatus.SUCCEEDED, HostStatus.UNCHANGED}:
                self.stdout.write("    " + host.output.replace("\n", "\n    "))
        self.stdout.write(f"Deployment #{deployment.pk}: {deployment.status}")
        if deployment.status != DeploymentStatus.SUCCEEDED:
            raise CommandError(f"deployment #{deployment.pk} {deployment.status}")

    def _frontends(self, names: list[str]) -> list[FrontEnd]:
        if not names:
            frontends = enabled_frontends()
            if not frontends:
                raise CommandError("no enabled front-end; add one first")
            return frontends
        try:
            return frontends_named(names)
        except ValidationError as exc:
            raise CommandError("unknown front-end(s): " + " ".join(exc.messages)) from None

    def _dry_run(self, frontends: list[FrontEnd]) -> None:
        failed = False
        for frontend in frontends:
            try:
                diff = frontend_pending_diff(frontend)
            except TransportError as exc:
                failed = True
                self.stdout.write(self.style.ERROR(f"== {frontend.name}: cannot compare: {exc}"))
                continue
            if not diff:
                self.stdout.write(f"== {frontend.name}: no changes")
            else:
                kind = change_kind(diff_paths(diff))
                self.stdout.write(f"== {frontend.name}: would change ({CHANGE_KIND_TEXT[kind]})")
                self.stdout.write(diff, ending="")
        if failed:
            raise CommandError("some front-ends could not be compared")
