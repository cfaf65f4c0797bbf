"""Collect the closed usage-log files of every front-end once, or forever with --loop (like poll_status)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from metering.collect import collect_usage


class Command(BaseCommand):
    help = (
        "Count the closed usage-log files of every front-end with usage logging on (each file exactly once), "
        "then remove them from the front-end. --loop to repeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat every --interval seconds until stopped.")
        parser.add_argument(
            "--interval", type=int, default=None, help="Seconds between runs (default HOSTPANEL_USAGE_COLLECT_SECONDS)."
        )
        parser.add_argument("--rounds", type=int, default=0, help="With --loop: stop after N runs (0: never).")

    def handle(self, *args, loop: bool, interval: int | None, rounds: int, **options):
        interval = settings.HOSTPANEL_USAGE_COLLECT_SECONDS if interval is None else interval
        if interval < 1:
            raise CommandError("--interval must be at least 1 second")
        done = 0
        while True:
            started = time.monotonic()
            result = collect_usage()
            done += 1
            for outcome in result.frontends:
                if outcome.counted or outcome.removed_only or not loop:
                    self.stdout.write(
                        f"{outcome.frontend}: {outcome.counted} file(s) counted ({outcome.lines} lines), "
                        f"{outcome.removed_only} counted before and removed now"
                    )
            for failure in result.failures:
                self.stderr.write(f"  {failure}")
            if not loop and result.failures:
                raise CommandError(f"{len(result.failures)} front-end(s) not collected (they are collected later)")
            if not loop or (rounds and done >= rounds):
                return
            time.sleep(max(interval - (time.monotonic() - started), 0))
