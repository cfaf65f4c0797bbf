"""Background jobs (Django's tasks framework: django-tasks-db by default, django-tasks-rq with
HOSTPANEL_TASKS_BACKEND=rq). Thin: the work lives in balancers/deploy.py."""

from __future__ import annotations

from django.tasks import task


@task()
def run_deployment(deployment_id: int) -> str:
    """Run a queued deployment; returns its final status ("skipped" when another worker claimed it)."""
    from balancers.deploy import deployment_execute  # noqa: PLC0415 - keep task import light

    deployment = deployment_execute(deployment_id)
    return deployment.status if deployment is not None else "skipped"
