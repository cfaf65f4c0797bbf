"""Poll every enabled front-end's balancer-manager and mod_status once, or forever with --loop (the worker's job)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from status.poller import poll_once


class Command(BaseCommand):
    help = "Store balancer-manager samples of every enabled front-end (dashboard history); --loop to repeat."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat every --interval seconds until stopped.")
        parser.add_argument(
            "--interval",
            type=int,
            default=None,
            help="Seconds between rounds (default HOSTPANEL_STATUS_POLL_SECONDS).",
        )
        parser.add_argument("--rounds", type=int, default=0, help="With --loop: stop after N rounds (0: never).")

    def handle(self, *args, loop: bool, interval: int | None, rounds: int, **options):
        interval = settings.HOSTPANEL_STATUS_POLL_SECONDS if interval is None else interval
        if interval < 1:
            raise CommandError("--interval must be at least 1 second")
        done = 0
        while True:
            started = time.monotonic()
            result = poll_once()
            done += 1
            self.stdout.write(
                f"{result.hosts_ok}/{result.hosts} front-ends answered, {result.samples} samples stored, "
                f"{result.worker_samples} mod_status samples, {result.pruned} old samples pruned"
            )
            for failure in result.failures:
                self.stderr.write(f"  {failure}")
            for failure in result.worker_failures:
                self.stderr.write(f"  mod_status: {failure}")
            if not loop or (rounds and done >= rounds):
                return
            time.sleep(max(interval - (time.monotonic() - started), 0))
