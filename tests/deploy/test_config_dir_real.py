"""Over real sshd + Apache: a deploy never moves or deletes a directory HostPanel did not write (the deploy
user's SSH login, here sshd's AuthorizedKeysFile directory) and prunes only the releases it named."""

from __future__ import annotations

import os

import pytest

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus, HostStage, HostStatus
from balancers.models import Deployment
from balancers.services import deployment_start
from deploy.swap import KEEP_RELEASES
from devrig.fleet import add_site
from tests.factories import ACTOR

pytestmark = pytest.mark.real


def deploy(**kwargs) -> Deployment:
    deployment = deployment_start(actor=ACTOR, **kwargs)
    deployment.refresh_from_db()
    return deployment


def listing(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_config_dir_holding_the_deploy_users_ssh_login_is_left_untouched_and_the_deploy_refused(farm):
    add_site("linux.co.uk", farm.balancer)
    fe1 = farm.fe1
    login_dir = fe1.sshd.base  # authorized_keys, the host key, sshd_config: the deploy user's way in
    before = listing(login_dir)
    balancer_services.frontend_update(fe1.frontend, actor=ACTOR, config_dir=str(login_dir))  # ACTOR: the shell
    deployment = deploy()
    rows = {h.frontend_name: h for h in deployment.hosts.all()}
    assert deployment.status == DeploymentStatus.PARTIAL
    row = rows["fe1"]
    assert (row.status, row.stage, row.retryable) == (HostStatus.FAILED, HostStage.UPLOAD, False)
    assert f"{login_dir} holds files HostPanel did not write (" in row.error
    assert "authorized_keys" in row.error and "move them away" in row.error
    assert "the live config was not touched" in row.error
    assert rows["fe2"].status == HostStatus.SUCCEEDED
    assert not login_dir.is_symlink() and listing(login_dir) == before
    assert not os.path.exists(f"{login_dir}.releases")
    # the login still works: pointed back, the same host deploys
    balancer_services.frontend_update(fe1.frontend, actor=ACTOR, config_dir=str(fe1.config_dir))
    again = deploy()
    assert again.status == DeploymentStatus.SUCCEEDED, [h.error for h in again.hosts.all()]
    assert fe1.backend_for("linux.co.uk") is not None


def test_staff_move_a_hand_made_config_dir_away_and_the_next_deploy_goes_through(farm):
    add_site("linux.co.uk", farm.balancer)
    fe1 = farm.fe1
    fe1.config_dir.unlink()  # someone replaced the managed symlink with a directory of their own
    fe1.config_dir.mkdir()
    (fe1.config_dir / "hostpanel.conf").write_text("# written by hand\n")
    deployment = deploy(frontends=[fe1.frontend])
    [row] = deployment.hosts.all()
    assert row.status == HostStatus.FAILED and "holds files HostPanel did not write (hostpanel.conf)" in row.error
    assert (fe1.config_dir / "hostpanel.conf").read_text() == "# written by hand\n"
    assert not any(n.startswith("legacy-") for n in os.listdir(f"{fe1.config_dir}.releases"))
    fe1.config_dir.rename(fe1.config_dir.with_name("hostpanel.by-hand"))
    assert deploy(frontends=[fe1.frontend]).status == DeploymentStatus.SUCCEEDED
    assert fe1.backend_for("linux.co.uk") is not None
    assert (fe1.config_dir.with_name("hostpanel.by-hand") / "hostpanel.conf").read_text() == "# written by hand\n"


def test_pruning_over_ssh_leaves_every_entry_hostpanel_did_not_name(farm):
    fe1 = farm.fe1
    releases = fe1.config_dir.with_name("hostpanel.releases")
    backup = releases / "backup-before-hostpanel"
    backup.mkdir()
    (backup / "apache2.conf").write_text("# the admin's own copy\n")
    os.utime(backup, (1, 1))  # older than every release: first in line for a name-blind pruning
    for i in range(KEEP_RELEASES + 2):
        add_site(f"site{i}.example", farm.balancer)
        assert deploy(frontends=[fe1.frontend]).status == DeploymentStatus.SUCCEEDED
    names = os.listdir(releases)
    assert {"initial", "backup-before-hostpanel"} <= set(names)  # the admin's first release and backup
    assert (backup / "apache2.conf").read_text() == "# the admin's own copy\n"
    assert len([n for n in names if len(n) == 64]) == KEEP_RELEASES
