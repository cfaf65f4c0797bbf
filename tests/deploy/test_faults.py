"""The fault suite, against two real front-ends (each its own sshd and Apache) and real backends: every
fault ends with each host serving a config that passed configtest, the database telling the truth
about each host (its activated release is the live one, or "unknown" — never a wrong one), and the
next deployment succeeding. Faults that need a second process (a worker SIGKILLed, a paused worker
racing another) run on PostgreSQL, where two processes share the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus, HostStage, HostStatus
from balancers.models import ActivatedRelease, Deployment, DeploymentHost
from balancers.services import deployment_start
from deploy.plan import ACTIVATED_MARKER
from deploy.reaper import reap
from deploy.runner import deployment_execute
from deploy.tasks import run_deployment
from deploy.transport import ssh
from devrig.fleet import add_site
from devrig.queues import DOWNABLE_QUEUE, QueueSwitch
from rendering.manifest import tree_digest
from rendering.routes import ROUTES_MAP, map_entries
from sites.models import Site
from tests.factories import ACTOR
from tests.samples import ROOT

pytestmark = pytest.mark.real

WORKER_LEASE_SECONDS = 2


def deploy(**kwargs) -> Deployment:
    deployment = deployment_start(actor=ACTOR, **kwargs)
    deployment.refresh_from_db()
    return deployment


def configtest_passes(host) -> bool:
    return subprocess.run([host.apache.binary, "-t", "-f", str(host.apache.conf)], capture_output=True).returncode == 0


def activated(host) -> str:
    row = ActivatedRelease.objects.filter(frontend__name=host.name).first()
    return row.digest if row else ""


def marker(host) -> str:
    path = Path(f"{host.config_dir}.releases") / ACTIVATED_MARKER
    return path.read_text().strip() if path.exists() else ""


def assert_truthful(farm) -> None:
    """What the database says each host runs is what it runs (or it says it does not know)."""
    for host in farm.hosts:
        assert host.apache.running, host.apache.error_log()[-2000:]
        digest = activated(host)
        if digest:
            assert digest == tree_digest(host.live_files()) == marker(host), host.name


def assert_next_deployment_converges(farm, *domains: str) -> Deployment:
    deployment = deploy()
    rows = {h.frontend_name: h for h in deployment.hosts.all()}
    assert deployment.status == DeploymentStatus.SUCCEEDED, [(r.frontend_name, r.error) for r in rows.values()]
    for host in farm.hosts:
        row = rows[host.name]
        assert activated(host) == row.tree.digest == tree_digest(host.live_files()) == marker(host)
        assert configtest_passes(host)
        for domain in domains:
            assert host.backend_for(domain) is not None, (host.name, domain, host.apache.error_log()[-2000:])
    return deployment


def change_config(farm) -> None:
    """A change outside routes.map (balancers.conf): the next deployment configtests and reloads."""
    balancer_services.balancer_update(farm.balancer, actor=ACTOR, maxattempts=3)


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (two processes share the test database): DATABASE_URL=postgres://...")


class Worker:
    """devrig/deploy_worker.py in its own process, paused at a stage of one front-end."""

    def __init__(self, deployment: Deployment, frontend: str, stage: str, tmp_path: Path, settings) -> None:
        self.reached = tmp_path / f"reached-{deployment.pk}-{stage}"
        self.resume = tmp_path / f"resume-{deployment.pk}-{stage}"
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "HOSTPANEL_SSH_KEY": settings.HOSTPANEL_SSH_KEY,
            "HOSTPANEL_SSH_TIMEOUT": "5",
            "HOSTPANEL_DEPLOY_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
            "HOSTPANEL_VAR_DIR": str(tmp_path / "var"),
        }
        command = [sys.executable, "-m", "devrig.deploy_worker", str(deployment.pk)]
        command += ["--frontend", frontend, "--stage", stage, "--reached", str(self.reached)]
        command += ["--resume", str(self.resume)]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_until_paused(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.reached.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker ended before the stage: {self.proc.stdout.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, "the worker did not reach the stage in time"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def workers():
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def wait_for_leases_to_expire() -> None:
    time.sleep(WORKER_LEASE_SECONDS + 0.5)


# --- a worker SIGKILLed at each stage ---------------------------------------------------------------


@pytest.mark.parametrize(
    "stage",
    [HostStage.UPLOAD, HostStage.SWAP, HostStage.CONFIGTEST, HostStage.RELOAD, HostStage.VERIFY, HostStage.MAP],
)
def test_a_worker_killed_at_a_stage_leaves_no_lie_and_the_next_deployment_finishes_the_job(
    farm, tmp_path, settings, workers, stage
):
    needs_postgresql()
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before = activated(farm.fe1)
    add_site("new.example", farm.balancer)
    if stage != HostStage.MAP:  # a map-only change has no configtest, reload or verify stage
        change_config(farm)
    deployment = deploy(enqueue=False, frontends=[farm.fe1.frontend])
    worker = Worker(deployment, "fe1", stage, tmp_path, settings)
    workers.append(worker)
    worker.wait_until_paused()
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)

    # the host still serves a config that passed configtest (the old one, or after the reload the new one)
    assert farm.fe1.backend_for("linux.co.uk") is not None
    if stage in {HostStage.VERIFY, HostStage.MAP}:  # reloaded, or the new map switched in
        assert farm.fe1.backend_for("new.example") is not None
    wait_for_leases_to_expire()
    retried = []
    result = reap(enqueue=retried.append)
    deployment.refresh_from_db()
    row = deployment.hosts.get()
    assert result.failed == [deployment.pk] and deployment.status == DeploymentStatus.FAILED
    assert row.status == HostStatus.FAILED and f"at stage '{stage}'" in row.error
    assert retried, "one retry was queued"
    if stage == HostStage.UPLOAD:  # config_dir was not switched yet: the database still knows fe1's release
        assert "the live config was not touched" in row.error and activated(farm.fe1) == before
    else:  # from the swap on, the switch may have happened: the database does not claim to know what fe1 runs
        assert activated(farm.fe1) == ""
    assert_truthful(farm)
    # the next deployment configtests and reloads fe1 (not "unchanged" from its MANIFEST) and finishes
    done = assert_next_deployment_converges(farm, "linux.co.uk", "new.example")
    fe1 = done.hosts.get(frontend_name="fe1")
    assert fe1.status == HostStatus.SUCCEEDED and "graceful" in fe1.output


# --- two workers race for one front-end: the one that lost its lease stops ------------------------


def test_a_paused_worker_whose_lease_expired_stops_without_touching_the_host_another_worker_deployed(
    farm, tmp_path, settings, workers
):
    needs_postgresql()
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    add_site("slow.example", farm.balancer)
    change_config(farm)
    slow = deploy(enqueue=False, frontends=[farm.fe1.frontend])
    worker = Worker(slow, "fe1", HostStage.CONFIGTEST, tmp_path, settings)
    workers.append(worker)
    worker.wait_until_paused()
    os.kill(worker.proc.pid, signal.SIGSTOP)  # a long GC pause, a frozen VM: its heartbeat stops too
    try:
        wait_for_leases_to_expire()
        add_site("fast.example", farm.balancer)
        fast = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
        assert fast.status == DeploymentStatus.SUCCEEDED
        fast_release = farm.fe1.live_target()
    finally:
        worker.resume.touch()
        os.kill(worker.proc.pid, signal.SIGCONT)
    output = worker.proc.communicate(timeout=60)[0].decode()
    row = slow.hosts.get()
    assert row.status == HostStatus.FAILED and "nothing more was done on the host" in row.error, output
    assert farm.fe1.live_target() == fast_release  # the stale worker did not switch it back or reload
    assert activated(farm.fe1) == fast.hosts.get(frontend_name="fe1").tree.digest
    assert_truthful(farm)
    assert_next_deployment_converges(farm, "linux.co.uk", "fast.example", "slow.example")


# --- the database connection dropped mid-deployment -----------------------------------------------


def test_a_database_connection_dropped_mid_deployment_is_replaced_and_the_deployment_finishes(farm):
    needs_postgresql()
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    add_site("new.example", farm.balancer)
    change_config(farm)  # through the configtest stage
    dropped = []

    def drop_my_connection(host) -> None:
        if host.frontend_name == "fe1" and host.stage == HostStage.CONFIGTEST and not dropped:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]

            def terminate() -> None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                connection.close()

            killer = threading.Thread(target=terminate)
            killer.start()
            killer.join()
            dropped.append(pid)

    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=drop_my_connection)
    assert dropped and deployment.status == DeploymentStatus.SUCCEEDED
    assert_truthful(farm)
    for host in farm.hosts:
        assert host.backend_for("new.example") is not None
    assert_next_deployment_converges(farm, "linux.co.uk", "new.example")


# --- SSH dropped after the reload ---------------------------------------------------------------------


def test_ssh_dropped_after_the_reload_is_reported_and_the_next_deployment_reloads_again(farm, monkeypatch):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    add_site("new.example", farm.balancer)
    change_config(farm)  # a config change: it reloads
    real_run = ssh.SSHTransport.run
    reload_fe1 = farm.fe1.frontend.reload_command

    def run_then_drop(self, command, *, timeout=60, input=None):
        result = real_run(self, command, timeout=timeout, input=input)
        if self.port == farm.fe1.sshd.port and command == reload_fe1:
            farm.fe1.sshd.kill()  # the reload ran; the connection dies right after it
        return result

    monkeypatch.setattr(ssh.SSHTransport, "run", run_then_drop)
    deployment = deploy()
    rows = {h.frontend_name: h for h in deployment.hosts.all()}
    assert deployment.status == DeploymentStatus.PARTIAL
    assert rows["fe1"].status == HostStatus.FAILED
    assert "the new config is live" in rows["fe1"].output and "could not be recorded" in rows["fe1"].output
    assert activated(farm.fe1) == ""  # unknown, not "the new tree" and not "the old tree"
    assert farm.fe1.backend_for("new.example") is not None  # it does serve the new, checked config
    assert_truthful(farm)
    monkeypatch.undo()
    farm.fe1.sshd.start()
    done = assert_next_deployment_converges(farm, "linux.co.uk", "new.example")
    assert "graceful" in done.hosts.get(frontend_name="fe1").output  # configtest + reload again, not "unchanged"


# --- the reload fails; the restore's reload fails ---------------------------------------------------


def failing_reload(host, tmp_path: Path, failures: int) -> None:
    """fe's reload command refuses the next `failures` reloads, then reloads normally."""
    counter = tmp_path / f"{host.name}-reload-failures"
    counter.write_text(str(failures))
    script = tmp_path / f"{host.name}-reload.sh"
    script.write_text(
        f"""#!/bin/sh
n=$(cat {counter})
if [ "$n" -gt 0 ]; then echo $((n - 1)) > {counter}; echo "graceful refused (test)" >&2; exit 1; fi
exec {host.apache.binary} -k graceful -f {host.apache.conf}
"""
    )
    script.chmod(0o755)
    balancer_services.frontend_update(host.frontend, actor=ACTOR, reload_command=str(script))


def test_a_failed_reload_puts_the_previous_release_back_reloads_it_and_says_so(farm, tmp_path):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before, target = activated(farm.fe1), farm.fe1.live_target()
    failing_reload(farm.fe1, tmp_path, failures=1)
    add_site("new.example", farm.balancer)
    change_config(farm)  # a config change: it reloads
    row = deploy().hosts.get(frontend_name="fe1")
    assert row.status == HostStatus.ROLLED_BACK
    assert "reload failed: the previous config was put back, passed configtest and was reloaded" in row.error
    assert farm.fe1.live_target() == target and activated(farm.fe1) == before
    assert farm.fe1.backend_for("linux.co.uk") is not None
    assert_truthful(farm)
    assert_next_deployment_converges(farm, "linux.co.uk", "new.example")


def test_a_restore_whose_reload_fails_too_is_failed_and_loud_and_the_next_deployment_recovers(farm, tmp_path):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    failing_reload(farm.fe1, tmp_path, failures=2)
    add_site("new.example", farm.balancer)
    change_config(farm)  # a config change: it reloads
    row = deploy().hosts.get(frontend_name="fe1")
    assert row.status == HostStatus.FAILED
    assert "WARNING" in row.error and "ITS reload failed" in row.error and "rolled back" not in row.error
    assert activated(farm.fe1) == ""
    assert farm.fe1.backend_for("linux.co.uk") is not None  # Apache kept the generation it had loaded
    assert_truthful(farm)
    assert_next_deployment_converges(farm, "linux.co.uk", "new.example")


# --- the queue is down ------------------------------------------------------------------------------


def test_changes_saved_while_the_queue_is_down_go_out_once_it_is_back(farm, settings):
    settings.TASKS = DOWNABLE_QUEUE
    settings.HOSTPANEL_AUTO_DEPLOY = True
    QueueSwitch.down = True
    try:
        stuck = add_site("linux.co.uk", farm.balancer).deployment
    finally:
        QueueSwitch.down = False
    stuck.refresh_from_db()
    assert stuck.status == DeploymentStatus.QUEUED and stuck.enqueued_at is None
    # nobody changes anything else: the reaper hands it over once it is older than the bound
    later = timezone.now() + timedelta(seconds=settings.HOSTPANEL_DEPLOY_REQUEUE_SECONDS + 1)
    assert reap(enqueue=run_deployment.enqueue, now=later).requeued == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == DeploymentStatus.SUCCEEDED
    assert_truthful(farm)
    for host in farm.hosts:
        assert host.backend_for("linux.co.uk") is not None
    assert_next_deployment_converges(farm, "linux.co.uk")


# --- a bad row planted in the database ------------------------------------------------------------


def test_a_bad_row_planted_in_the_database_blocks_only_its_own_site(farm):
    add_site("linux.co.uk", farm.balancer, "/plone/linux")
    assert deploy().status == DeploymentStatus.SUCCEEDED
    Site.objects.filter(domain="linux.co.uk").update(plone_path='/plone/x"\nInclude /etc/shadow\n#')
    add_site("new.example", farm.balancer)
    deployment = deploy()
    assert deployment.status == DeploymentStatus.PARTIAL
    assert "linux.co.uk" in deployment.message
    for host in farm.hosts:
        row = DeploymentHost.objects.get(deployment=deployment, frontend_name=host.name)
        assert row.status == HostStatus.SUCCEEDED and row.left_out[0]["site"] == "linux.co.uk"
        assert host.backend_for("new.example") is not None  # the other change went out
        assert host.backend_for("linux.co.uk")["path"].endswith("/plone/linux/VirtualHostRoot/")  # previous route
        assert "shadow" not in "".join(host.live_files().values())
        assert map_entries(host.live_files()[ROUTES_MAP])["linux.co.uk"].startswith("live|bronze|/plone/linux|")
    assert "plone_path" in Site.objects.get(domain="linux.co.uk").render_error
    assert_truthful(farm)
    Site.objects.filter(domain="linux.co.uk").update(plone_path="/plone/fixed")
    assert_next_deployment_converges(farm, "linux.co.uk", "new.example")
    assert farm.fe1.backend_for("linux.co.uk")["path"].endswith("/plone/fixed/VirtualHostRoot/")
