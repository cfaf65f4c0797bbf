"""The operations app's task (Django's tasks framework, like deploy/tasks.py): a queued rolling restart."""

from __future__ import annotations

from django.tasks import task

from operations.runner import restart_execute


@task()
def run_rolling_restart(restart_id: int) -> str:
    """Run a queued rolling restart; returns its final status ("skipped" when another worker claimed it)."""
    job = restart_execute(restart_id)
    return job.status if job is not None else "skipped"
