"""Order and renew the certificates that are due, once or forever with --loop (like poll_status)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from certificates.tasks import renewal_scan


class Command(BaseCommand):
    help = (
        "Order the ACME certificates that are due (new, renewal, retry); what one scan issued goes live in one "
        "deployment. --loop to repeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat every --interval seconds until stopped.")
        parser.add_argument(
            "--interval", type=int, default=None, help="Seconds between scans (default HOSTPANEL_ACME_SCAN_SECONDS)."
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="At most N attempts per scan (default HOSTPANEL_ACME_SCAN_LIMIT)."
        )
        parser.add_argument("--rounds", type=int, default=0, help="With --loop: stop after N scans (0: never).")

    def handle(self, *args, loop: bool, interval: int | None, limit: int | None, rounds: int, **options):
        interval = settings.HOSTPANEL_ACME_SCAN_SECONDS if interval is None else interval
        limit = settings.HOSTPANEL_ACME_SCAN_LIMIT if limit is None else limit
        if interval < 1 or limit < 1:
            raise CommandError("--interval and --limit must be at least 1")
        if not settings.HOSTPANEL_ACME_DIRECTORY:
            raise CommandError("HOSTPANEL_ACME_DIRECTORY is not set: there is no CA to order from.")
        done = 0
        while True:
            started = time.monotonic()
            result = renewal_scan(limit)
            done += 1
            if result.attempts or not loop:
                self.stdout.write(f"{result.attempts} ACME attempts, {result.issued} certificates issued")
            for failure in result.failures:
                self.stderr.write(f"  {failure}")
            if not loop or (rounds and done >= rounds):
                return
            time.sleep(max(interval - (time.monotonic() - started), 0))
