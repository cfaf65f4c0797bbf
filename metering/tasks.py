"""The metering app's periodic job (Django's tasks framework): collect every front-end's closed usage-log
files (metering.collect). `manage.py collect_usage --loop` runs it every HOSTPANEL_USAGE_COLLECT_SECONDS
(bin/run starts it, like poll_status and reap); enqueue `collect_usage_task` to run it on the task worker."""

from __future__ import annotations

from django.tasks import task

from metering.collect import collect_usage


@task()
def collect_usage_task() -> int:
    """One collection of every front-end with usage logging on; returns how many files it counted."""
    return collect_usage().counted
