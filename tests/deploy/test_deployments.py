"""Deployments as rows: coalescing, claiming, leases, status, diff and the commands — on local
front-ends (the local transport, real files, `true` as configtest/reload)."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from balancers.choices import ChangeKind, DeploymentStatus, DeploymentTrigger, HostStage, HostStatus
from balancers.models import Balancer, DeployLock, Deployment, DeploymentHost, FrontEnd
from balancers.selectors.deployments import host_progress
from balancers.services import deployment_rollback, deployment_start, request_automatic_deployment
from deploy.leases import lease_acquire, lease_release
from deploy.runner import deployment_execute, render_for
from deploy.stored import stored_files
from hostpanel.models import AuditEntry
from rendering.routes import ROUTES_MAP, map_entries
from sites import services as site_services
from sites.models import Site
from tests.assertions import whole_map_at
from tests.factories import ACTOR, make_local_frontend, reloads


@pytest.fixture
def local_frontend(demo, tmp_path):
    return make_local_frontend(tmp_path)


def test_ten_quick_site_edits_coalesce_into_one_automatic_deployment(
    local_frontend, settings, django_capture_on_commit_callbacks
):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    bronze = Balancer.objects.get(name="bronze")
    with django_capture_on_commit_callbacks() as callbacks:
        sites = [
            site_services.site_create(actor=ACTOR, domain=f"s{i}.example", balancer=bronze, plone_path=f"/plone/s{i}")
            for i in range(10)
        ]
    assert {s.deployment.pk for s in sites} == {sites[0].deployment.pk}
    assert Deployment.objects.filter(trigger=DeploymentTrigger.AUTOMATIC).count() == 1
    assert len(callbacks) == 1  # enqueued once


def test_a_running_automatic_deployment_is_not_reused_by_the_next_change(local_frontend, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    first = request_automatic_deployment(actor=ACTOR)
    assert Deployment.objects.filter(pk=first.pk, status="queued").update(status="running") == 1
    second = request_automatic_deployment(actor=ACTOR)
    assert second.pk != first.pk and second.status == DeploymentStatus.QUEUED


def test_a_deployment_is_claimed_by_one_worker_only(local_frontend):
    deployment = deployment_start(actor=ACTOR, enqueue=False)
    assert deployment_execute(deployment.pk).status == DeploymentStatus.SUCCEEDED
    assert deployment_execute(deployment.pk) is None


def test_the_worker_renders_the_state_current_when_it_runs_so_the_last_revision_wins(local_frontend):
    deployment = deployment_start(actor=ACTOR, enqueue=False)
    site_services.site_create(actor=ACTOR, domain="late.example", balancer="bronze", plone_path="/plone/late")
    deployment = deployment_execute(deployment.pk)
    live = map_entries(whole_map_at(local_frontend.config_dir))
    assert live["late.example"] == "live|bronze|/plone/late|s|BALANCEID|1200"
    host = deployment.hosts.get()
    assert stored_files(host.tree) == render_for(local_frontend)


def test_the_progress_shows_the_stages_the_hosts_change_went_through():
    def labels(**fields):
        return [(label, state) for label, state in host_progress(DeploymentHost(**fields)) if state]

    done = {"status": HostStatus.SUCCEEDED, "stage": HostStage.DONE}
    assert labels(change_kind=ChangeKind.MAP, **done) == [
        (s.label, "done") for s in (HostStage.RENDER, HostStage.CONNECT, HostStage.UPLOAD, HostStage.SWAP)
    ] + [(HostStage.MAP.label, "done"), (HostStage.PROBE.label, "done"), (HostStage.DONE.label, "done")]
    config = [label for label, _ in labels(change_kind=ChangeKind.CONFIG, **done)]
    assert HostStage.MAP.label not in config and HostStage.RELOAD.label in config
    running = labels(status=HostStatus.RUNNING, stage=HostStage.MAP)  # not recorded yet while it runs
    assert running[-1] == (HostStage.MAP.label, "current") and HostStage.CONFIGTEST.label not in dict(running)


def test_lease_is_exclusive_until_released_or_expired(local_frontend):
    assert lease_acquire(local_frontend.pk, "a", wait=0)
    assert not lease_acquire(local_frontend.pk, "b", wait=0.2)
    lease_release(local_frontend.pk, "b")  # not the holder: no effect
    assert not lease_acquire(local_frontend.pk, "b", wait=0)
    lease_release(local_frontend.pk, "a")
    assert lease_acquire(local_frontend.pk, "b", wait=0)
    DeployLock.objects.filter(pk=local_frontend.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lease_acquire(local_frontend.pk, "c", wait=0)  # a crashed holder's lease expires


def test_a_deployment_of_two_local_frontends_succeeds_and_records_a_revision(transactional_db, demo, tmp_path):
    make_local_frontend(tmp_path, "local1")
    make_local_frontend(tmp_path, "local2")
    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert [h.status for h in deployment.hosts.all()] == [HostStatus.SUCCEEDED, HostStatus.SUCCEEDED]
    assert len(deployment.revision) == 64 and deployment.finished_at
    again = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    assert [h.status for h in again.hosts.all()] == [HostStatus.UNCHANGED, HostStatus.UNCHANGED]
    assert again.revision == deployment.revision
    assert reloads(tmp_path, "local1") == 1


def test_one_failing_frontend_makes_the_deployment_partial_and_all_failing_failed(transactional_db, demo, tmp_path):
    make_local_frontend(tmp_path, "good")
    make_local_frontend(tmp_path, "bad", configtest_command="false")
    deployment = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    assert deployment.status == DeploymentStatus.PARTIAL
    Site.objects.all().delete()
    only_bad = deployment_start(actor=ACTOR, enqueue=False, frontends=[FrontEnd.objects.get(name="bad")])
    assert deployment_execute(only_bad.pk).status == DeploymentStatus.FAILED


def test_manage_py_deploy_prints_per_host_progress_and_dry_run_prints_the_diff(local_frontend, tmp_path):
    out = io.StringIO()
    call_command("deploy", stdout=out)
    text = out.getvalue()
    assert "local1: upload" in text and "local1: configtest" in text and "local1: succeeded" in text
    site_services.site_create(actor=ACTOR, domain="new.example", balancer="bronze", plone_path="/plone/new")
    out = io.StringIO()
    call_command("deploy", "--dry-run", "--frontend", "local1", stdout=out)
    diff = out.getvalue()
    assert "+++ panel/routes.map" in diff and "\n+new.example live|bronze|/plone/new|" in diff
    assert "panel/hostpanel.conf" not in diff and "panel/sites/" not in diff  # a new site is a map change
    assert "new.example" not in map_entries(whole_map_at(local_frontend.config_dir))  # a dry run changes nothing
    out = io.StringIO()
    call_command("deploy", stdout=out)
    text = out.getvalue()
    assert "local1: map" in text and "local1: succeeded" in text
    assert "configtest" not in text and "reload" not in text  # map-only: no configtest, no graceful
    assert reloads(tmp_path) == 1  # the first deploy's only
    first, second = (d.hosts.get() for d in Deployment.objects.order_by("pk"))
    assert (first.change_kind, second.change_kind) == (ChangeKind.CONFIG, ChangeKind.MAP)
    assert "new.example" in map_entries(whole_map_at(local_frontend.config_dir))


def test_manage_py_drift_finds_a_file_edited_on_the_host(local_frontend):
    call_command("deploy", stdout=io.StringIO())
    out = io.StringIO()
    call_command("drift", stdout=out)
    assert "local1: in sync" in out.getvalue()
    with open(os.path.join(local_frontend.config_dir, ROUTES_MAP), "a") as fh:
        fh.write("# edited by hand\n")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("drift", "--diff", stdout=out)
    assert "changed: routes.map" in out.getvalue()
    assert "-# edited by hand" in out.getvalue()


def test_manage_py_deploy_refuses_an_unknown_frontend(local_frontend):
    with pytest.raises(CommandError, match="unknown front-end"):
        call_command("deploy", "--frontend", "nope", stdout=io.StringIO())


def test_starting_and_rolling_back_a_deployment_is_audited(local_frontend):
    first = deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)
    entry = AuditEntry.objects.get(action="deployment.start")
    assert (entry.actor, entry.after["frontends"]) == ("tester", ["every enabled front-end"])

    rollback = deployment_rollback(first, actor=ACTOR)
    assert rollback.trigger == DeploymentTrigger.ROLLBACK
    assert AuditEntry.objects.get(action="deployment.rollback").after["rollback_of"] == first.pk


def test_the_hook_works_outside_a_transaction_too_and_the_deployment_runs_on_commit(transactional_db, demo, tmp_path):
    make_local_frontend(tmp_path)
    deployment = request_automatic_deployment(actor=ACTOR)  # immediate task backend in tests
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED
