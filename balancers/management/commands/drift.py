"""manage.py drift: compare each front-end's live files with what the panel would render now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from balancers.models import FrontEnd
from deploy.checks import frontend_file_drift


class Command(BaseCommand):
    help = "Compare each enabled front-end's live config files with what the panel would render now."

    def add_arguments(self, parser):
        parser.add_argument("--frontend", action="append", default=[], metavar="NAME")
        parser.add_argument("--diff", action="store_true", help="Also print the unified diff (live -> panel).")

    def handle(self, *args, frontend: list[str], diff: bool, **options):
        frontends = FrontEnd.objects.filter(enabled=True)
        if frontend:
            frontends = FrontEnd.objects.filter(name__in=frontend)
        drifted = 0
        for fe in frontends:
            report = frontend_file_drift(fe, with_diff=diff)
            if report.error:
                drifted += 1
                self.stdout.write(self.style.ERROR(f"{fe.name}: cannot check: {report.error}"))
                continue
            if report.in_sync:
                self.stdout.write(self.style.SUCCESS(f"{fe.name}: in sync"))
                continue
            drifted += 1
            self.stdout.write(self.style.WARNING(f"{fe.name}: drift"))
            for label, paths in (("changed", report.changed), ("missing", report.missing), ("extra", report.extra)):
                for path in paths:
                    self.stdout.write(f"  {label}: {path}")
            if diff and report.diff:
                self.stdout.write(report.diff, ending="")
        if drifted:
            raise CommandError(f"{drifted} front-end(s) differ from the panel or could not be checked")
