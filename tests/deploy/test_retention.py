"""Bounded growth: retention of stored trees and deployments, the cleanup command, and the size caps on
everything read from a front-end."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from balancers.choices import DeploymentStatus
from balancers.models import ActivatedRelease, ConfigTree, Deployment, DeploymentHost
from balancers.services import deployment_start
from deploy.plan import Target
from deploy.release import read_live_tree
from deploy.retention import cleanup_once
from deploy.runner import deployment_execute
from deploy.transport.protocol import LocalTransport, TransportError, tar_files, untar_files
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import SiteChange
from tests.factories import ACTOR, make_local_frontend


def deploy_revisions(count: int) -> list[Deployment]:
    done = []
    for i in range(count):
        site_services.site_create(actor=ACTOR, domain=f"r{i}.example", balancer="bronze", plone_path=f"/plone/r{i}")
        done.append(deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk))
    return done


def test_only_the_last_trees_per_frontend_are_kept_and_never_the_activated_one(demo, tmp_path, settings):
    frontend = make_local_frontend(tmp_path)
    settings.HOSTPANEL_KEEP_TREES = 3
    deployments = deploy_revisions(6)
    assert ConfigTree.objects.count() == 6
    # the host is made to run an old tree: it must survive even though it is not among the newest three
    oldest_tree = deployments[0].hosts.get().tree
    ActivatedRelease.objects.filter(frontend=frontend).update(tree=oldest_tree, digest=oldest_tree.digest)
    result = cleanup_once()
    kept = set(ConfigTree.objects.values_list("pk", flat=True))
    newest = {d.hosts.get().tree_id for d in deployments[-3:]}
    assert kept == newest | {oldest_tree.pk}
    assert result.trees_deleted == 2 and result.host_rows_detached == 2
    assert DeploymentHost.objects.filter(tree__isnull=True).count() == 2  # old rows stay, without a tree


def test_deployments_older_than_the_window_are_deleted_but_not_the_audit(demo, tmp_path, settings):
    make_local_frontend(tmp_path)
    old, recent = deploy_revisions(2)
    Deployment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    queued = Deployment.objects.create(status=DeploymentStatus.QUEUED, actor="x")
    Deployment.objects.filter(pk=queued.pk).update(created_at=timezone.now() - timedelta(days=200))
    audit = AuditEntry.objects.count()
    out = io.StringIO()
    call_command("cleanup", stdout=out)
    assert "1 deployment(s) older than 90 days" in out.getvalue()
    assert set(Deployment.objects.values_list("pk", flat=True)) == {recent.pk, queued.pk}
    assert AuditEntry.objects.count() == audit


def test_reading_a_file_over_the_cap_fails_with_a_clear_error(tmp_path, settings):
    settings.HOSTPANEL_READ_FILE_MAX_BYTES = 1024
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(TransportError, match=r"larger than 1024 bytes \(HOSTPANEL_READ_FILE_MAX_BYTES\)"):
        LocalTransport().read_file(str(big))


def test_reading_a_tree_over_the_cap_fails_with_a_clear_error(tmp_path, settings):
    settings.HOSTPANEL_READ_TREE_MAX_BYTES = 4096
    config_dir = tmp_path / "hostpanel"
    (config_dir / "sites").mkdir(parents=True)
    for i in range(5):
        (config_dir / "sites" / f"s{i}.conf").write_bytes(b"#" * 1000)
    target = Target(name="fe", config_dir=str(config_dir), configtest_command="true", reload_command="true")
    with pytest.raises(TransportError, match="HOSTPANEL_READ_TREE_MAX_BYTES"):
        read_live_tree(LocalTransport(), target)


def test_a_tar_bomb_from_a_host_is_refused_while_unpacking():
    packed = tar_files({"a.conf": b"\0" * 1_000_000})
    assert len(packed) < 10_000
    with pytest.raises(TransportError, match="larger than 100000 bytes"):
        untar_files(packed, limit=100_000)


def test_command_output_over_the_cap_fails_with_a_clear_error(settings):
    settings.HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES = 2048
    assert LocalTransport().run("head -c 1000 /dev/zero").ok
    with pytest.raises(TransportError, match="HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES"):
        LocalTransport().run("head -c 5000 /dev/zero")


def test_the_site_change_journal_keeps_a_day_and_always_its_newest_row(demo):
    rows = list(SiteChange.objects.order_by("id"))
    assert len(rows) >= 2  # the demo's site and its alias, journaled by the triggers
    SiteChange.objects.update(created_at=timezone.now() - timedelta(days=2))
    result = cleanup_once()
    assert result.journal_rows_deleted == len(rows) - 1
    assert list(SiteChange.objects.values_list("id", flat=True)) == [rows[-1].id]
