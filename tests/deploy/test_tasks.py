"""run_deployment through the real task backends: django-tasks-db's db_worker, and django-tasks-rq
against the Redis on 127.0.0.1:6379 (selected with HOSTPANEL_TASKS_BACKEND=rq, as in production)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.management import call_command

from balancers.choices import DeploymentStatus
from balancers.services import deployment_start
from devrig.net import tcp_reachable
from tests.factories import ACTOR, make_local_frontend
from tests.realparts import missing
from tests.samples import ROOT

pytestmark = pytest.mark.real


def test_a_deployment_queued_on_the_database_backend_is_run_by_db_worker(transactional_db, demo, tmp_path, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    frontend = make_local_frontend(tmp_path)
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.QUEUED  # waiting in the database queue
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert os.path.exists(os.path.join(frontend.config_dir, "MANIFEST"))


SETUP = """
from django.core.management import call_command
from balancers import services
from hostpanel.audit import Actor
call_command("seed_demo", sites=0, no_user=True, verbosity=0)
frontend = services.frontend_create(
    actor=Actor("tester"), name="local1", address="127.0.0.1", transport="local",
    config_dir={config_dir!r}, configtest_command="true", reload_command="true", http_listen="127.0.0.1:8080",
)
print("DEPLOYMENT", frontend.deployment.pk)
"""
CHECK = """
from balancers.models import Deployment
print("STATUS", Deployment.objects.get(pk={pk}).status)
"""


def test_an_automatic_deployment_goes_through_redis_and_an_rq_worker(tmp_path):
    if not tcp_reachable("127.0.0.1", 6379):
        missing("Redis is not running on 127.0.0.1:6379 (apt-get install -y redis-server)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
        "HOSTPANEL_TASKS_BACKEND": "rq",
        "HOSTPANEL_AUTO_DEPLOY": "1",
        # a Redis database of its own, so that no other test run's worker takes this job
        "REDIS_URL": f"redis://127.0.0.1:6379/{8 + secrets.randbelow(8)}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rq.sqlite3'}",
        "HOSTPANEL_VAR_DIR": str(tmp_path / "var"),
    }
    config_dir = tmp_path / "fe" / "hostpanel"

    def manage(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    manage("migrate", "-v0")
    out = manage("shell", "-c", SETUP.format(config_dir=str(config_dir)))
    pk = int(out.split("DEPLOYMENT")[1].split()[0])
    assert "STATUS queued" in manage("shell", "-c", CHECK.format(pk=pk))
    manage("rqworker", "--burst", "--worker-class", "rq.SimpleWorker", "--job-class", "django_tasks_rq.Job", "default")
    assert "STATUS succeeded" in manage("shell", "-c", CHECK.format(pk=pk))
    assert (config_dir / "MANIFEST").exists()
