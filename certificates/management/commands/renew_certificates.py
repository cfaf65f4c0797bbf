"""Order and renew the certificates that are due, once, or as the ACME worker with --loop (certificates.worker:
woken the moment a certificate is due, a scan every --interval seconds anyway)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from certificates.tasks import ScanResult, renewal_scan
from certificates.worker import acme_worker_run
from deploy.wake import ACME, WakeListener


class Command(BaseCommand):
    help = (
        "Order the ACME certificates that are due (new, renewal, retry); what one scan issued goes live in one "
        "deployment. --loop: the ACME worker, woken the moment a certificate is due, scanning every --interval."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Run as the ACME worker until stopped.")
        parser.add_argument(
            "--interval", type=int, default=None, help="Seconds between scans (default HOSTPANEL_ACME_SCAN_SECONDS)."
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="At most N attempts per scan (default HOSTPANEL_ACME_SCAN_LIMIT)."
        )
        parser.add_argument(
            "--batch",
            type=float,
            default=None,
            help="With --loop: seconds certificates are collected before one deployment puts them live "
            "(default HOSTPANEL_ACME_BATCH_SECONDS).",
        )
        parser.add_argument("--rounds", type=int, default=0, help="With --loop: stop after N rounds (0: never).")

    def handle(self, *args, loop: bool, interval: int | None, limit: int | None, batch, rounds: int, **options):
        interval = settings.HOSTPANEL_ACME_SCAN_SECONDS if interval is None else interval
        limit = settings.HOSTPANEL_ACME_SCAN_LIMIT if limit is None else limit
        batch = settings.HOSTPANEL_ACME_BATCH_SECONDS if batch is None else batch
        if interval < 1 or limit < 1 or batch < 0:
            raise CommandError("--interval and --limit must be at least 1, --batch at least 0")
        if not settings.HOSTPANEL_ACME_DIRECTORY:
            raise CommandError("HOSTPANEL_ACME_DIRECTORY is not set: there is no CA to order from.")
        if not loop:
            self.report(renewal_scan(limit), always=True)
            return
        with WakeListener(ACME) as listener:
            wake = _RoundAwareWake(listener)
            # SIGTERM while waiting ends the worker like Ctrl-C, through the worker's `finally` (which puts an
            # open batch live); during a round it lets the round finish and report first
            signal.signal(signal.SIGTERM, wake.terminate)
            if options["verbosity"] > 1:
                self.stdout.write(f"renew_certificates: listening at {listener.path}, scanning every {interval} s")
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the worker's `finally` ran
                acme_worker_run(
                    wake=wake,  # type: ignore[arg-type]  # a WakeListener with the round bookkeeping
                    should_stop=wake.stopping.is_set,
                    scan_seconds=interval,
                    batch_seconds=batch,
                    limit=limit,
                    rounds=rounds,
                    on_round=self.report,
                )

    def report(self, result: ScanResult, *, always: bool = False) -> None:
        if result.attempts or always:
            self.stdout.write(f"{result.attempts} ACME attempts, {result.issued} certificates issued")
        for failure in result.failures:
            self.stderr.write(f"  {failure}")


class _RoundAwareWake:
    """The worker's WakeListener, knowing whether a round runs (between two waits): SIGTERM stops at once while
    the worker waits, and after the current round (reported) while one runs."""

    def __init__(self, listener: WakeListener) -> None:
        self.listener = listener
        self.in_round = True  # the worker starts with a round
        self.stopping = threading.Event()

    def wait(self, seconds: float) -> bool:
        if self.stopping.is_set():
            return True  # back to the loop, which stops
        self.in_round = False
        woken = self.listener.wait(seconds)
        self.in_round = True
        return woken

    def terminate(self, signum, frame) -> None:
        if self.in_round:
            self.stopping.set()
        else:
            sys.exit(0)
