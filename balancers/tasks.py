"""Every background job (Django's tasks framework: django-tasks-db by default, django-tasks-rq with
HOSTPANEL_TASKS_BACKEND=rq). Thin: deployments run in balancers.deploy.runner, the reaper in
balancers.deploy.reaper, retention in balancers.deploy.retention, status polling in balancers.status.poller.

Periodic jobs: `reap_deployments` every minute and `cleanup` daily — `manage.py maintenance --loop`
(started by bin/run) enqueues them, or run `manage.py reap` / `manage.py cleanup` from cron.
"""

from __future__ import annotations

from django.tasks import task

from balancers.deploy.reaper import reap
from balancers.deploy.retention import cleanup_once
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


@task()
def reap_deployments() -> dict:
    """One round of the reaper: fail deployments whose worker stopped, mark covered ones superseded,
    hand stale queued ones to the queue again (JSON-safe result)."""
    return reap(enqueue=run_deployment.enqueue).as_dict()


@task()
def cleanup() -> dict:
    """The daily retention round: old trees, deployments and status samples (audit is kept)."""
    return cleanup_once().as_dict()
