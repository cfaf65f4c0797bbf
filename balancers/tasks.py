"""Deployments queued before the move name `balancers.tasks.run_deployment`; the task is deploy.tasks's.
Kept for one release, so those rows still run."""

from deploy.tasks import run_deployment

__all__ = ["run_deployment"]
