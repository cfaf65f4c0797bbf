"""Deploying to two real front-end hosts: each its own sshd and standalone Apache, real backends."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from balancers import services as balancer_services
from balancers.choices import ChangeKind, DeploymentStatus, HostStage, HostStatus
from balancers.models import Deployment, DeploymentHost
from balancers.services import deployment_rollback, deployment_start
from deploy import checks, readiness
from deploy.checks import frontend_test_connection
from deploy.stored import stored_files
from deploy.transport import ssh
from deploy.transport.pool import open_transport
from devrig.fleet import add_site
from devrig.net import free_port
from devrig.sshd import generate_key
from rendering.routes import RELEASE_FILE, ROUTES_MAP, ROUTES_RECENT, map_entries
from sites import services as site_services
from tests.assertions import deployment_diff, whole_map_at
from tests.factories import ACTOR

pytestmark = pytest.mark.real


def deploy(**kwargs) -> Deployment:
    """Queue a deployment through the tasks backend (immediate in tests) and return it finished."""
    deployment = deployment_start(actor=ACTOR, **kwargs)
    deployment.refresh_from_db()
    return deployment


def by_host(deployment: Deployment) -> dict[str, DeploymentHost]:
    return {h.frontend_name: h for h in deployment.hosts.all()}


def test_a_deploy_lands_on_both_hosts_and_a_new_site_answers_through_each_apache(farm):
    add_site("linux.co.uk", farm.balancer, "/plone/linux")
    deployment = deploy()
    hosts = by_host(deployment)
    assert deployment.status == DeploymentStatus.SUCCEEDED, [h.error for h in hosts.values()]
    assert len(deployment.revision) == 64
    for host in farm.hosts:
        row = hosts[host.name]
        assert (row.status, row.stage) == (HostStatus.SUCCEEDED, HostStage.DONE)
        assert stored_files(row.tree) == host.live_files()
        answer = host.backend_for("linux.co.uk")
        assert answer is not None, host.apache.error_log()[-2000:]
        assert answer["backend"] in {"zope1", "zope2"}
        assert answer["path"] == "/VirtualHostBase/http/linux.co.uk:80/plone/linux/VirtualHostRoot/"


def test_a_second_deploy_without_changes_uploads_nothing_and_does_not_reload(farm):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    reloads = [h.reloads() for h in farm.hosts]
    targets = [h.live_target() for h in farm.hosts]
    again = deploy()
    assert again.status == DeploymentStatus.SUCCEEDED
    for row in again.hosts.all():
        assert (row.status, row.files_uploaded, row.bytes_uploaded) == (HostStatus.UNCHANGED, 0, 0)
        assert "graceful" not in row.output
    assert [h.reloads() for h in farm.hosts] == reloads
    assert [h.live_target() for h in farm.hosts] == targets


def dbm_inode(host) -> int:
    return (host.config_dir / "routes.dbm.pag").stat().st_ino


def assert_map_only(row: DeploymentHost, host, reloads_before: int, dbm_before: int) -> None:
    """The host took a map-only release: the overlay (routes-recent.map), the release file and the MANIFEST
    uploaded, the base and its SDBM kept (hard-linked: not rebuilt), no configtest, no reload."""
    assert (row.status, row.stage, row.change_kind) == (HostStatus.SUCCEEDED, HostStage.DONE, ChangeKind.MAP)
    live = host.live_files()
    assert row.files_uploaded == 3  # routes-recent.map, the release file and the MANIFEST
    assert row.bytes_uploaded == sum(len(live[path].encode()) for path in (ROUTES_RECENT, RELEASE_FILE, "MANIFEST"))
    assert stored_files(row.tree) == live
    assert dbm_inode(host) == dbm_before
    assert "graceful" not in row.output and " -t " not in row.output  # neither reload nor configtest ran
    assert host.reloads() == reloads_before


def test_a_new_site_uploads_only_routes_map_and_is_switched_in_without_a_reload(farm):
    add_site("linux.co.uk", farm.balancer)
    first = deploy()
    assert first.status == DeploymentStatus.SUCCEEDED
    assert {h.change_kind for h in first.hosts.all()} == {ChangeKind.CONFIG}  # the first release is loaded
    reloads = {h.name: h.reloads() for h in farm.hosts}
    dbms = {h.name: dbm_inode(h) for h in farm.hosts}
    add_site("new.example", farm.balancer)
    deployment = deploy()
    assert deployment.status == DeploymentStatus.SUCCEEDED
    for host in farm.hosts:
        assert_map_only(by_host(deployment)[host.name], host, reloads[host.name], dbms[host.name])
        assert host.backend_for("new.example", timeout=3) is not None  # Apache read the new map by itself
        assert host.backend_for("linux.co.uk") is not None


def test_one_changed_site_uploads_only_routes_map_and_is_switched_in_without_a_reload(farm):
    site = add_site("linux.co.uk", farm.balancer, "/plone/linux")
    add_site("other.example", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    reloads = {h.name: h.reloads() for h in farm.hosts}
    dbms = {h.name: dbm_inode(h) for h in farm.hosts}
    site_services.site_update(site, actor=ACTOR, plone_path="/plone/linux2")
    deployment = deploy()
    assert deployment.status == DeploymentStatus.SUCCEEDED
    for host in farm.hosts:
        assert_map_only(by_host(deployment)[host.name], host, reloads[host.name], dbms[host.name])
        assert host.backend_for("linux.co.uk")["path"].endswith("/plone/linux2/VirtualHostRoot/") or (
            host.backend_for("linux.co.uk", timeout=3)["path"].endswith("/plone/linux2/VirtualHostRoot/")
        )


def test_a_host_key_mismatch_is_refused_before_any_upload_and_the_other_host_still_deploys(farm, tmp_path):
    before = farm.fe1.live_target()
    impostor_key = generate_key(tmp_path / "impostor")
    balancer_services.frontend_update(farm.fe1.frontend, actor=ACTOR, ssh_host_key=impostor_key)
    add_site("linux.co.uk", farm.balancer)
    deployment = deploy()
    rows = by_host(deployment)
    assert deployment.status == DeploymentStatus.PARTIAL
    assert rows["fe1"].status == HostStatus.FAILED
    assert rows["fe1"].stage == HostStage.CONNECT
    assert "host key mismatch" in rows["fe1"].error
    assert not rows["fe1"].retryable
    assert rows["fe1"].attempts == 1  # permanent: not retried
    assert rows["fe1"].files_uploaded == 0
    assert farm.fe1.live_target() == before
    assert rows["fe2"].status == HostStatus.SUCCEEDED
    assert farm.fe2.backend_for("linux.co.uk") is not None


def test_an_unreachable_host_fails_with_a_clear_message_and_the_others_deploy(farm):
    closed = free_port()
    balancer_services.frontend_update(farm.fe1.frontend, actor=ACTOR, ssh_port=closed)
    add_site("linux.co.uk", farm.balancer)
    deployment = deploy()
    rows = by_host(deployment)
    assert deployment.status == DeploymentStatus.PARTIAL
    assert rows["fe1"].status == HostStatus.FAILED
    assert f"cannot connect to 127.0.0.1:{closed}: Connection refused" in rows["fe1"].error
    assert rows["fe1"].retryable
    assert rows["fe2"].status == HostStatus.SUCCEEDED


def test_a_configtest_failure_keeps_the_previous_config_serving_and_does_not_reload(farm, tmp_path):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before_target, before_files, before_reloads = farm.fe1.live_target(), farm.fe1.live_files(), farm.fe1.reloads()
    # fe1's main config gains a broken include: every configtest on fe1 fails from now on
    broken = tmp_path / "broken.conf"
    broken.write_text("ThisIsNotADirective on\n")
    main_conf = farm.fe1.apache.conf.read_text()
    farm.fe1.apache.conf.write_text(main_conf + f'Include "{broken}"\n')
    add_site("new.example", farm.balancer)
    balancer_services.balancer_update(farm.balancer, actor=ACTOR, maxattempts=3)  # not map-only: configtest runs
    try:
        deployment = deploy()
    finally:
        farm.fe1.apache.conf.write_text(main_conf)  # so that the fixture can stop this Apache
    rows = by_host(deployment)
    assert deployment.status == DeploymentStatus.PARTIAL
    assert (rows["fe1"].status, rows["fe1"].stage) == (HostStatus.FAILED, HostStage.CONFIGTEST)
    assert "ThisIsNotADirective" in rows["fe1"].output
    assert "not reloaded" in rows["fe1"].error
    assert farm.fe1.live_target() == before_target
    assert farm.fe1.live_files() == before_files
    assert farm.fe1.reloads() == before_reloads
    # fe1 still serves the old site set: the old site answers, the new one does not reach a backend
    assert farm.fe1.backend_for("linux.co.uk") is not None
    assert farm.fe1.backend_for("new.example", timeout=0.5) is None
    assert farm.fe2.backend_for("new.example") is not None


def test_a_connection_dropped_mid_upload_leaves_the_live_config_unchanged_and_is_retried(farm, monkeypatch, settings):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    before_target, before_files, before_reloads = farm.fe1.live_target(), farm.fe1.live_files(), farm.fe1.reloads()
    for i in range(30):
        add_site(f"client{i:02d}.example", farm.balancer)
    real_run = ssh.SSHTransport.run
    killed = []

    def run_and_drop(self, command, *, timeout=60, input=None):
        if self.port == farm.fe1.sshd.port and input:
            # the upload stream to fe1 starts: its sshd dies with every connection it serves
            farm.fe1.sshd.kill()
            killed.append(command)
        return real_run(self, command, timeout=timeout, input=input)

    monkeypatch.setattr(ssh.SSHTransport, "run", run_and_drop)
    deployment = deploy()
    rows = by_host(deployment)
    assert deployment.status == DeploymentStatus.PARTIAL
    assert rows["fe1"].status == HostStatus.FAILED
    assert killed and rows["fe1"].retryable
    # a dropped connection is transient: tried again (sshd stays down here, so each retry is refused)
    assert rows["fe1"].attempts == 1 + settings.HOSTPANEL_DEPLOY_RETRIES
    assert "attempt 1 failed" in rows["fe1"].output and "(stage: upload)" in rows["fe1"].output
    assert "the live config was not touched" in rows["fe1"].error
    assert farm.fe1.live_target() == before_target
    assert farm.fe1.live_files() == before_files
    assert farm.fe1.reloads() == before_reloads
    assert farm.fe1.backend_for("linux.co.uk") is not None
    assert rows["fe2"].status == HostStatus.SUCCEEDED
    assert farm.fe2.backend_for("client29.example") is not None


def test_rollback_restores_the_exact_files_of_the_earlier_revision(farm):
    site = add_site("linux.co.uk", farm.balancer, "/plone/linux")
    first = deploy()
    assert first.status == DeploymentStatus.SUCCEEDED
    first_files = {h.name: h.live_files() for h in farm.hosts}
    site_services.site_update(site, actor=ACTOR, plone_path="/plone/changed")
    add_site("later.example", farm.balancer)
    second = deploy()
    assert second.status == DeploymentStatus.SUCCEEDED
    diff = deployment_diff(first, second)
    assert f"+++ #{second.pk}/fe1/routes.map" in diff and "\n+later.example live|" in diff
    assert "\n-linux.co.uk live|bronze|/plone/linux|" in diff and "\n+linux.co.uk live|bronze|/plone/changed|" in diff
    reloads = {h.name: h.reloads() for h in farm.hosts}
    rollback = deployment_rollback(first, actor=ACTOR)
    rollback.refresh_from_db()
    assert rollback.status == DeploymentStatus.SUCCEEDED
    assert rollback.rollback_of == first
    for host in farm.hosts:
        assert host.live_files() == first_files[host.name]
        assert host.live_files() == stored_files(by_host(first)[host.name].tree)
        row = by_host(rollback)[host.name]
        assert row.files_uploaded == 0  # the old release was still on disk
        assert row.change_kind == ChangeKind.MAP and host.reloads() == reloads[host.name]  # only the map went back
        assert host.backend_for("linux.co.uk")["path"].endswith("/plone/linux/VirtualHostRoot/")
        assert host.backend_for("later.example", timeout=0.5) is None


def test_test_connection_reports_login_config_dir_configtest_apache_modules_and_vhosts(farm):
    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    steps = frontend_test_connection(farm.fe1.frontend)
    assert [(s.name, s.ok) for s in steps] == [
        ("connect", True),
        ("config_dir", True),
        ("configtest", True),
        ("apache", True),
        ("modules", True),
        ("vhosts", True),
        ("httxt2dbm", True),
        ("http", True),
    ]
    assert "Syntax OK" in steps[2].detail
    assert "MPM event" in steps[3].detail and "MaxRequestWorkers" in steps[3].detail
    assert "all needed modules are loaded" in steps[4].detail and "lbmethod_byrequests" in steps[4].detail
    assert "HostPanel's catch-all is the default vhost" in steps[5].detail
    assert "httxt2dbm" in steps[6].detail


def test_test_connection_says_clearly_when_mod_ssl_is_missing_for_https_sites(farm):
    conf = farm.fe1.apache.conf
    without_ssl = conf.with_name("httpd-without-ssl.conf")
    without_ssl.write_text("".join(line for line in conf.read_text().splitlines(True) if "mod_ssl.so" not in line))
    frontend = farm.fe1.frontend
    balancer_services.frontend_update(
        frontend, actor=ACTOR, configtest_command=f"{farm.fe1.apache.binary} -t -f {without_ssl}"
    )
    facts = readiness.facts_from_output(
        transport_output(frontend), {frontend.http_listen: True, frontend.https_listen: True}, command="apache2"
    )
    steps = {s.name: s for s in checks.readiness_steps(facts, https=True, lbmethods={"byrequests"})}
    assert not steps["modules"].ok
    assert "missing: ssl: enable them (`a2enmod ssl`" in steps["modules"].detail
    # without HTTPS sites mod_ssl is not needed
    steps = {s.name: s for s in checks.readiness_steps(facts, https=False, lbmethods={"byrequests"})}
    assert steps["modules"].ok


def transport_output(frontend) -> str:
    """The readiness script's output on the front-end, over its own SSH transport."""
    transport = open_transport(frontend)
    try:
        result = transport.run(readiness.readiness_script(readiness.apache_command(frontend.configtest_command)))
        return result.stdout + result.stderr
    finally:
        transport.close()


def test_drift_and_dry_run_read_the_live_files_over_ssh(farm):

    add_site("linux.co.uk", farm.balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    live_file = farm.fe1.config_dir / ROUTES_MAP
    live_file.write_text(live_file.read_text() + "# edited by hand on fe1\n")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("drift", stdout=out)
    assert "fe1: drift" in out.getvalue() and f"changed: {ROUTES_MAP}" in out.getvalue()
    assert "fe2: in sync" in out.getvalue()
    add_site("new.example", farm.balancer)
    out = io.StringIO()
    call_command("deploy", "--dry-run", stdout=out)
    assert out.getvalue().count(f"+++ panel/{ROUTES_MAP}") == 2
    assert out.getvalue().count("\n+new.example live|") == 2
    assert "-# edited by hand on fe1" in out.getvalue()
    assert "new.example" not in map_entries(whole_map_at(farm.fe2.config_dir))
