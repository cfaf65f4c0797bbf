"""Two workers deploying at the same time, on PostgreSQL: serialized per front-end by the lease,
and the final state on every host is the latest revision."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus, HostStatus
from balancers.models import DeployLock, DeploymentHost
from balancers.services import deployment_start
from deploy.runner import render_for
from devrig.fleet import add_site
from tests.factories import ACTOR
from tests.samples import ROOT

pytestmark = pytest.mark.real


def test_two_workers_deploying_at_once_are_serialized_per_host_and_the_latest_revision_wins(farm, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    for host in farm.hosts:
        # a slow configtest widens the window in which the two workers compete for each host
        balancer_services.frontend_update(
            host.frontend,
            actor=ACTOR,
            configtest_command=f"sleep 2; {host.apache.binary} -t -f {host.apache.conf}",
        )
    add_site("first.example", farm.balancer)
    first = deployment_start(actor=ACTOR)
    add_site("second.example", farm.balancer)
    second = deployment_start(actor=ACTOR)

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "HOSTPANEL_TASKS_BACKEND": "db",
        "HOSTPANEL_SSH_KEY": settings.HOSTPANEL_SSH_KEY,
        "HOSTPANEL_VAR_DIR": str(tmp_path / "var"),
    }
    command = [sys.executable, "manage.py", "db_worker", "--batch", "--max-tasks", "1", "--no-startup-delay"]
    workers = [
        subprocess.Popen([*command, "--no-reload"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    try:
        outputs = [w.communicate(timeout=180)[0].decode(errors="replace") for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers] == [0, 0], outputs

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (DeploymentStatus.SUCCEEDED, DeploymentStatus.SUCCEEDED), outputs
    # the two deployments really ran at the same time ...
    assert first.started_at < second.finished_at and second.started_at < first.finished_at
    for host in farm.hosts:
        rows = sorted(DeploymentHost.objects.filter(frontend_name=host.name), key=lambda r: r.started_at)
        assert len(rows) == 2
        # ... but one after the other on each host: the second found the host already up to date
        assert rows[0].finished_at <= rows[1].started_at
        assert [r.status for r in rows] == [HostStatus.SUCCEEDED, HostStatus.UNCHANGED]
        assert host.live_files() == render_for(host.frontend)  # the latest revision
        assert host.backend_for("second.example") is not None
    assert set(DeployLock.objects.values_list("owner", flat=True)) == {""}
