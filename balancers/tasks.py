"""Every background job (Django's tasks framework: django-tasks-db by default, django-tasks-rq with
HOSTPANEL_TASKS_BACKEND=rq). Thin: deployments run in balancers.deploy.runner, status polling in
balancers.status.poller."""

from __future__ import annotations

from django.tasks import task

from balancers.deploy.runner import deployment_execute
from balancers.status.poller import poll_once


@task()
def run_deployment(deployment_id: int) -> str:
    """Run a queued deployment; returns its final status ("skipped" when another worker claimed it)."""
    deployment = deployment_execute(deployment_id)
    return deployment.status if deployment is not None else "skipped"


@task
def poll_status() -> dict:
    """One polling round of every front-end's balancer-manager (a task: JSON-safe result)."""
    result = poll_once()
    return {
        "hosts": result.hosts,
        "hosts_ok": result.hosts_ok,
        "samples": result.samples,
        "pruned": result.pruned,
        "failures": list(result.failures),
    }
