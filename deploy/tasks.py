"""The deploy worker's one job (Django's tasks framework: django-tasks-db by default, django-tasks-rq with
HOSTPANEL_TASKS_BACKEND=rq): run a queued deployment (deploy.runner). The reaper and the retention
cleanup are not tasks: `manage.py reap --loop` (started by bin/run) runs both, or run `manage.py reap` /
`manage.py cleanup` from cron. Status polling is `manage.py poll_status --loop`.
"""

from __future__ import annotations

from django.tasks import task

from deploy.runner import deployment_execute


@task()
def run_deployment(deployment_id: int) -> str:
    """Run a queued deployment; returns its final status ("skipped" when another worker claimed it)."""
    deployment = deployment_execute(deployment_id)
    return deployment.status if deployment is not None else "skipped"
