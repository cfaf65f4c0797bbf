"""No stuck or lying deployments, on local front-ends (the local transport, real files, shell commands
that log to a file): the queue going down, the reaper, superseding, fenced leases, the activated release
deciding "unchanged", exceptions in a stage, failed restores, transient retries."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.db.models import F
from django.utils import timezone

from balancers import services as balancer_services
from balancers.choices import ChangeKind, DeploymentStatus, DeploymentTrigger, HostStage, HostStatus
from balancers.models import ActivatedRelease, Balancer, DeployLock, Deployment, DeploymentHost
from balancers.services import deployment_rollback, deployment_start, request_automatic_deployment
from deploy import host as deploy_host_module
from deploy.plan import ACTIVATED_MARKER
from deploy.reaper import REAPER_ACTOR, reap
from deploy.runner import deployment_execute
from deploy.tasks import run_deployment
from deploy.transport.protocol import LocalTransport, TransportError
from devrig.queues import DOWNABLE_QUEUE, QueueSwitch
from rendering.routes import map_entries
from sites import services as site_services
from tests.assertions import whole_map_at
from tests.factories import ACTOR, make_local_frontend, reloads


@pytest.fixture
def local_frontend(demo, tmp_path):
    return make_local_frontend(tmp_path)


@pytest.fixture
def queue(settings):
    """A task queue that runs tasks at once while up and raises (like a Redis that is down) while down."""
    settings.TASKS = DOWNABLE_QUEUE
    QueueSwitch.down, QueueSwitch.refused = False, 0
    yield QueueSwitch
    QueueSwitch.down = False


def commands(tmp_path, name: str = "local1") -> list[str]:
    log = tmp_path / f"{name}.log"
    return log.read_text().split() if log.exists() else []


def add_site(domain: str):
    return site_services.site_create(actor=ACTOR, domain=domain, balancer="bronze", plone_path="/plone/x")


def change_config(maxattempts: int = 3) -> None:
    """A change outside routes.map (balancers.conf): the deploy configtests and reloads."""
    balancer_services.balancer_update(Balancer.objects.get(name="bronze"), actor=ACTOR, maxattempts=maxattempts)


def routes(frontend) -> dict[str, str]:
    """{host name: route} of the live routes.map."""
    return map_entries(whole_map_at(frontend.config_dir))


def live(frontend, path: str) -> str | None:
    full = os.path.join(frontend.config_dir, path)
    return open(full).read() if os.path.exists(full) else None


# --- the queue down, the reaper, superseded ---------------------------------------------------------


def test_a_change_saved_while_the_queue_is_down_is_handed_over_by_the_next_change(
    transactional_db, demo, tmp_path, settings, queue
):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    make_local_frontend(tmp_path)
    queue.down = True
    first = add_site("first.example").deployment
    first.refresh_from_db()
    assert first.status == DeploymentStatus.QUEUED and first.enqueued_at is None
    assert "Could not be handed to the task queue" in first.message and queue.refused == 1
    queue.down = False
    second = add_site("second.example").deployment
    # the same coalesced row, but this time really handed over: it ran
    assert second.pk == first.pk
    second.refresh_from_db()
    assert second.status == DeploymentStatus.SUCCEEDED
    assert second.enqueue_attempts == 2 and second.message == ""
    assert {"first.example", "second.example"} <= set(routes(second.hosts.get().frontend))


def test_the_reaper_hands_a_deployment_no_task_exists_for_to_the_queue_again(local_frontend, queue, settings):
    queue.down = True
    stuck = deployment_start(actor=ACTOR)  # the on-commit hand-over fails (the process could as well have died)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.enqueued_at) == (DeploymentStatus.QUEUED, None)
    queue.down = False
    assert reap(enqueue=run_deployment.enqueue).requeued == []  # younger than the bound: left alone
    later = timezone.now() + timedelta(seconds=settings.HOSTPANEL_DEPLOY_REQUEUE_SECONDS + 1)
    result = reap(enqueue=run_deployment.enqueue, now=later)
    assert result.requeued == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == DeploymentStatus.SUCCEEDED


def test_a_queued_deployment_the_queue_lost_is_requeued_with_a_doubling_wait(local_frontend, queue, settings):
    lost = Deployment.objects.create(status=DeploymentStatus.QUEUED, actor="x", enqueue_attempts=3)
    bound = settings.HOSTPANEL_DEPLOY_REQUEUE_SECONDS
    Deployment.objects.filter(pk=lost.pk).update(enqueued_at=timezone.now() - timedelta(seconds=bound * 3))
    assert reap(enqueue=lambda pk: None).requeued == []  # third attempt: waits 4 x the bound
    Deployment.objects.filter(pk=lost.pk).update(enqueued_at=timezone.now() - timedelta(seconds=bound * 5))
    assert reap(enqueue=lambda pk: None).requeued == [lost.pk]


def test_the_doubling_requeue_wait_stops_at_its_cap(local_frontend, queue, settings):
    settings.HOSTPANEL_DEPLOY_REQUEUE_SECONDS, settings.HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS = 120, 900
    lost = Deployment.objects.create(status=DeploymentStatus.QUEUED, actor="x", enqueue_attempts=12)
    Deployment.objects.filter(pk=lost.pk).update(enqueued_at=timezone.now() - timedelta(seconds=890))
    assert reap(enqueue=lambda pk: None).requeued == []  # within the cap
    Deployment.objects.filter(pk=lost.pk).update(enqueued_at=timezone.now() - timedelta(seconds=910))
    assert reap(enqueue=lambda pk: None).requeued == [lost.pk]  # 15 minutes, not 120 s x 64 (two hours)


def test_the_reaper_fails_a_running_deployment_whose_worker_stopped_and_queues_one_retry(local_frontend):
    dead = Deployment.objects.create(status=DeploymentStatus.RUNNING, actor="olga", started_at=timezone.now())
    Deployment.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    row = DeploymentHost.objects.create(
        deployment=dead, frontend=local_frontend, frontend_name="local1", status="running", stage="configtest"
    )
    ran = []
    result = reap(enqueue=ran.append)
    dead.refresh_from_db()
    row.refresh_from_db()
    assert result.failed == [dead.pk] and dead.status == DeploymentStatus.FAILED
    assert "worker stopped" in dead.message
    assert row.status == HostStatus.FAILED and "at stage 'configtest'" in row.error and "unknown" in row.error
    assert ActivatedRelease.objects.get(frontend=local_frontend).digest == ""  # the DB does not claim to know
    retry = Deployment.objects.get(pk=result.retries[0])
    assert (retry.actor, retry.status, ran) == (REAPER_ACTOR, DeploymentStatus.QUEUED, [retry.pk])
    # a live worker's lease is left alone
    alive = Deployment.objects.create(status=DeploymentStatus.RUNNING, actor="x", started_at=timezone.now())
    Deployment.objects.filter(pk=alive.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=30))
    assert alive.pk not in reap(enqueue=ran.append).failed


def test_a_deployment_of_the_current_state_supersedes_the_queued_automatic_ones_it_covers(local_frontend):
    older = Deployment.objects.create(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor="a")
    newer = request_automatic_deployment(actor=ACTOR)
    assert newer.pk == older.pk  # coalesced while it is queued
    manual = deployment_start(actor=ACTOR, enqueue=False)
    assert deployment_execute(manual.pk).status == DeploymentStatus.SUCCEEDED
    older.refresh_from_db()
    assert (older.status, older.superseded_by_id) == (DeploymentStatus.SUPERSEDED, manual.pk)
    assert f"Superseded by deployment #{manual.pk}" in older.message
    assert deployment_execute(older.pk) is None  # nothing left to claim


def test_the_reaper_supersedes_older_queued_automatic_deployments_by_the_newest(local_frontend):
    a = Deployment.objects.create(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor="a")
    b = Deployment.objects.create(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor="b")
    assert reap(enqueue=lambda pk: None).superseded == [a.pk]
    assert Deployment.objects.get(pk=b.pk).status == DeploymentStatus.QUEUED


# --- leases are fenced ------------------------------------------------------------------------------


def test_a_worker_whose_lease_was_taken_stops_before_touching_the_host_again(local_frontend, tmp_path):
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    before = os.readlink(local_frontend.config_dir)
    add_site("new.example")

    def steal(host):
        if host.stage == HostStage.UPLOAD:  # another worker takes the front-end over (our lease "expired")
            DeployLock.objects.filter(frontend=local_frontend).update(owner="thief", token=F("token") + 1)

    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=steal)
    row = deployment.hosts.get()
    assert (row.status, row.stage) == (HostStatus.FAILED, HostStage.SWAP)
    assert "taken over" in row.error and "nothing more was done on the host" in row.error
    assert os.readlink(local_frontend.config_dir) == before  # never switched
    assert commands(tmp_path) == ["configtest", "reload"]  # only the first deployment's
    assert DeployLock.objects.get(frontend=local_frontend).owner == "thief"  # and it did not release the thief's


# --- "unchanged" means "activated" -----------------------------------------------------------------


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing catches it, the stage is left half done."""


def test_after_a_worker_died_between_swap_and_configtest_the_same_tree_is_configtested_and_reloaded(
    local_frontend, tmp_path
):
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    add_site("new.example")
    change_config()  # not map-only: configtest and reload follow the swap

    def die(host):
        if host.stage == HostStage.CONFIGTEST:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=die)
    # the symlink and the MANIFEST already are the new tree's: the old check would call it "unchanged"
    assert "new.example" in routes(local_frontend) and "maxattempts=3" in live(local_frontend, "balancers.conf")
    with open(f"{local_frontend.config_dir}.releases/{ACTIVATED_MARKER}") as fh:
        assert fh.read().startswith("switching")
    assert ActivatedRelease.objects.get(frontend=local_frontend).digest == ""
    again = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    row = again.hosts.get()
    assert (again.status, row.status) == (DeploymentStatus.SUCCEEDED, HostStatus.SUCCEEDED)
    assert commands(tmp_path) == ["configtest", "reload", "configtest", "reload"]
    assert ActivatedRelease.objects.get(frontend=local_frontend).digest == row.tree.digest
    # and now it really is unchanged
    third = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert third.status == HostStatus.UNCHANGED and reloads(tmp_path) == 2


def test_after_a_worker_died_in_a_map_only_switch_the_next_deployment_configtests_and_reloads(local_frontend, tmp_path):
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    add_site("new.example")

    def die(host):
        if host.stage == HostStage.MAP:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=die)
    assert "new.example" in routes(local_frontend)
    with open(f"{local_frontend.config_dir}.releases/{ACTIVATED_MARKER}") as fh:
        assert fh.read().startswith("switching")
    # nothing says what Apache runs: no map-only shortcut, the same tree is configtested and reloaded
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (row.status, row.change_kind) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert commands(tmp_path) == ["configtest", "reload", "configtest", "reload"]


# --- any exception in a stage restores; a failed restore is loud -----------------------------------


@pytest.mark.parametrize(
    ("stage", "status", "reloaded"),
    [(HostStage.RELOAD, HostStatus.FAILED, False), (HostStage.VERIFY, HostStatus.ROLLED_BACK, True)],
)
def test_a_database_error_during_a_stage_puts_the_previous_release_back(
    demo, tmp_path, backend_factory, stage, status, reloaded
):
    health = backend_factory("health")  # answers 200: the check after the reload passes
    local_frontend = make_local_frontend(tmp_path, health_url=f"http://127.0.0.1:{health.port}/")
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    before = os.readlink(local_frontend.config_dir)
    add_site("new.example")
    change_config()  # a config change: it reaches the reload and verify stages
    raised = []

    def database_gone(host):
        if host.stage == stage and not raised:
            raised.append(stage)
            raise OperationalError("server closed the connection unexpectedly")

    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=database_gone).hosts.get()
    assert raised and row.status == status
    assert "OperationalError: server closed the connection unexpectedly" in row.error
    assert os.readlink(local_frontend.config_dir) == before
    if reloaded:  # the new config had been loaded: the previous one is configtested and reloaded again
        assert "put back, passed configtest and was reloaded" in row.error
        assert commands(tmp_path)[-2:] == ["configtest", "reload"] and reloads(tmp_path) == 3
    else:
        assert "Apache was not reloaded" in row.error and reloads(tmp_path) == 1
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED


def test_a_database_error_during_a_map_only_switch_puts_the_previous_map_back_without_a_reload(
    local_frontend, tmp_path
):
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    before = os.readlink(local_frontend.config_dir)
    add_site("new.example")
    raised = []

    def database_gone(host):
        if host.stage == HostStage.MAP and not raised:
            raised.append(host.stage)
            raise OperationalError("server closed the connection unexpectedly")

    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk, on_progress=database_gone).hosts.get()
    assert raised and (row.status, row.change_kind) == (HostStatus.FAILED, ChangeKind.MAP)
    assert "OperationalError" in row.error and "Apache was not reloaded" in row.error
    assert os.readlink(local_frontend.config_dir) == before and "new.example" not in routes(local_frontend)
    assert commands(tmp_path) == ["configtest", "reload"]  # the first deployment's only
    # the marker names the activated release again: the retry is map-only as well
    again = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (again.status, again.change_kind) == (HostStatus.SUCCEEDED, ChangeKind.MAP)
    assert "new.example" in routes(local_frontend) and commands(tmp_path) == ["configtest", "reload"]


def test_a_restore_whose_reload_fails_is_failed_with_a_warning_never_rolled_back(demo, tmp_path):
    frontend = make_local_frontend(tmp_path, reload_command=f"echo reload >> {tmp_path}/local1.log; false")
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert row.status == HostStatus.FAILED
    assert "reload failed" in row.error and "WARNING" in row.error and "ITS reload failed" in row.error
    assert ActivatedRelease.objects.get(frontend=frontend).digest == ""


def test_a_rollback_whose_restore_reload_fails_does_not_say_put_back_and_reloaded(local_frontend, tmp_path):
    first = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    add_site("new.example")
    change_config()  # going back to `first` is a config change: it needs a reload
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    local_frontend.reload_command = "false"
    local_frontend.save(update_fields=["reload_command"])
    rollback = deployment_execute(deployment_rollback(first, actor=ACTOR).pk)
    row = rollback.hosts.get()
    assert (rollback.status, row.status) == (DeploymentStatus.FAILED, HostStatus.FAILED)
    assert "put back and reloaded" not in row.error and "ITS reload failed" in row.error


def test_a_rollback_of_a_map_only_change_needs_no_reload(local_frontend, tmp_path):
    first = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    add_site("new.example")
    assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == DeploymentStatus.SUCCEEDED
    local_frontend.reload_command = local_frontend.configtest_command = "false"  # any reload would fail
    local_frontend.save(update_fields=["reload_command", "configtest_command"])
    rollback = deployment_execute(deployment_rollback(first, actor=ACTOR).pk)
    row = rollback.hosts.get()
    assert (rollback.status, row.status, row.change_kind) == (
        DeploymentStatus.SUCCEEDED,
        HostStatus.SUCCEEDED,
        ChangeKind.MAP,
    )
    assert "new.example" not in routes(local_frontend) and "linux.co.uk" in routes(local_frontend)
    assert commands(tmp_path) == ["configtest", "reload"]  # the first deployment's only


# --- transient failures are retried, permanent ones are not -----------------------------------------


class FlakyOpen:
    """open_transport that fails `times` times with `error`, then gives the local transport."""

    def __init__(self, times: int, error: TransportError) -> None:
        self.times, self.error, self.calls = times, error, 0

    def __call__(self, frontend, **kwargs):
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return LocalTransport()


def test_a_connection_reset_is_retried_with_backoff_and_then_succeeds(local_frontend, monkeypatch):
    flaky = FlakyOpen(2, TransportError("cannot connect to 10.0.0.9:22: Connection reset by peer", retryable=True))
    monkeypatch.setattr(deploy_host_module, "open_transport", flaky)
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (row.status, row.attempts, flaky.calls) == (HostStatus.SUCCEEDED, 3, 3)
    assert row.output.count("Connection reset by peer") == 2


def test_retries_are_bounded_by_the_setting(local_frontend, monkeypatch, settings):
    settings.HOSTPANEL_DEPLOY_RETRIES = 1
    flaky = FlakyOpen(5, TransportError("cannot connect: timed out after 10 s", retryable=True))
    monkeypatch.setattr(deploy_host_module, "open_transport", flaky)
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (row.status, row.attempts, flaky.calls) == (HostStatus.FAILED, 2, 2)
    assert row.error.startswith("after 2 attempts: cannot connect: timed out")


@pytest.mark.parametrize(
    "message", ["host key mismatch for x@h:22: refusing", "login as hostpanel on h:22 was refused (auth)"]
)
def test_a_permanent_failure_is_not_retried(local_frontend, monkeypatch, message):
    flaky = FlakyOpen(5, TransportError(message, retryable=False))
    monkeypatch.setattr(deploy_host_module, "open_transport", flaky)
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (row.status, row.attempts, flaky.calls) == (HostStatus.FAILED, 1, 1)


def test_a_configtest_failure_is_not_retried(demo, tmp_path):
    make_local_frontend(tmp_path, configtest_command=f"echo configtest >> {tmp_path}/local1.log; false")
    row = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).hosts.get()
    assert (row.status, row.stage, row.attempts) == (HostStatus.FAILED, HostStage.CONFIGTEST, 1)
    assert commands(tmp_path) == ["configtest"]


def test_manage_py_reap_runs_one_round_and_says_what_it_did(local_frontend):
    dead = Deployment.objects.create(status=DeploymentStatus.RUNNING, actor="x", started_at=timezone.now())
    Deployment.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command("reap", stdout=out)
    assert f"failed [{dead.pk}]" in out.getvalue()
    assert Deployment.objects.get(pk=dead.pk).status == DeploymentStatus.FAILED
