"""manage.py reap [--loop]: the reaper now (or every --interval seconds, with the daily cleanup)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from deploy.reaper import reap
from deploy.retention import cleanup_once
from deploy.tasks import run_deployment
from metering.services import quota_unsuspend_due

DAY = 24 * 3600.0


class Command(BaseCommand):
    help = (
        "Fail deployments whose worker stopped, mark covered queued ones superseded, hand stale queued ones to "
        "the task queue again. --loop repeats every --interval seconds, brings back the sites the traffic quota "
        "suspended last month, and runs the retention cleanup daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat until stopped (bin/run starts it so).")
        parser.add_argument("--interval", type=int, default=60, help="Seconds between rounds (default 60).")
        parser.add_argument("--rounds", type=int, default=0, help="With --loop: stop after N rounds (0: never).")

    def handle(self, *args, loop: bool, interval: int, rounds: int, **options):
        if interval < 1:
            raise CommandError("--interval must be at least 1 second")
        done, last_cleanup = 0, time.monotonic()
        while True:
            result = reap(enqueue=run_deployment.enqueue)
            done += 1
            self.stdout.write(
                f"failed {result.failed or 'none'}, retries {result.retries or 'none'}, superseded "
                f"{result.superseded or 'none'}, handed to the queue again {result.requeued or 'none'}"
            )
            if loop:  # a new month: bring back the sites the traffic quota suspended (one query when none)
                for site in quota_unsuspend_due():
                    self.stdout.write(f"unsuspended {site.domain}: a new month of its traffic quota")
            if loop and time.monotonic() - last_cleanup >= DAY:
                last_cleanup = time.monotonic()
                self.stdout.write(f"cleanup: {cleanup_once().as_dict()}")
            if not loop or (rounds and done >= rounds):
                return
            time.sleep(interval)
