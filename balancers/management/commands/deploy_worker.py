"""manage.py deploy_worker [--interval SECONDS]: the database queue's worker, woken the moment a deployment
is queued (deploy.wake) instead of finding it at its next poll; it still looks every --interval seconds
(HOSTPANEL_WORKER_INTERVAL) for tasks queued elsewhere (the scheduler, another machine). Runs the tasks
with django-tasks-db's own worker, which it calls in batch mode: run what is queued, then return."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from deploy.wake import WakeListener


class Command(BaseCommand):
    help = "Run the database task worker, woken at once when a deployment is queued."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between looks at the queue when nothing wakes the worker (default HOSTPANEL_WORKER_INTERVAL)",
        )
        parser.add_argument("--queue-name", default="*", help="queues to run, comma-separated ('*': all)")

    def handle(self, *args, interval: float | None, queue_name: str, **options) -> None:
        interval = settings.HOSTPANEL_WORKER_INTERVAL if interval is None else max(interval, 0.01)
        # its worker says "Starting worker" / "No more tasks" at INFO on every round: only at -v3
        level = logging.INFO if options["verbosity"] > 2 else logging.WARNING
        logging.getLogger("django_tasks_db").setLevel(level)
        if options["verbosity"] == 0:
            logging.getLogger("django.tasks").setLevel(logging.WARNING)  # a line per task otherwise
        worker = Worker(
            queue_names=queue_name.split(","),
            interval=0,
            batch=True,  # run() returns once the queue is empty; the wait below replaces its sleep
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()  # TERM/INT: stop after the running task (at once when idle)
        with WakeListener() as wake:
            if options["verbosity"] > 1:
                self.stdout.write(f"deploy_worker: listening at {wake.path}, polling every {interval:g} s")
            while worker.running:
                worker.run()
                if worker.running:
                    wake.wait(interval)
