"""push_tree, the per-front-end stages, on the local transport with a stand-in tree (fast)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from balancers.choices import HostStage, HostStatus
from deploy.plan import Target
from deploy.release import push_tree
from deploy.transport.protocol import LocalTransport, TransportError
from devrig.net import free_port
from rendering.manifest import tree_diff
from tests.factories import live_files, logged_commands, logging_host


@pytest.fixture
def host(tmp_path):
    return logging_host(tmp_path)


def commands(host) -> list[str]:
    return logged_commands(host)


SITES = {
    "hostpanel.conf": "Include sites/*.conf\n",
    "sites/a.example.conf": "# site a\n",
    "sites/b.example.conf": "# site b\n",
}


def test_a_first_deploy_uploads_everything_switches_the_symlink_and_reloads(host, tree_maker):
    tree = tree_maker(SITES)
    outcome = push_tree(LocalTransport(), host["target"], tree)
    assert (outcome.status, outcome.stage) == (HostStatus.SUCCEEDED, HostStage.DONE)
    assert outcome.files_uploaded == 4
    assert os.path.islink(host["dir"])
    assert live_files(host["dir"]) == tree
    assert commands(host) == ["configtest", "reload"]


def test_a_deploy_without_changes_uploads_nothing_and_does_not_reload(host, tree_maker):
    tree = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], tree)
    outcome = push_tree(LocalTransport(), host["target"], tree)
    assert outcome.status == HostStatus.UNCHANGED
    assert outcome.files_uploaded == 0
    assert commands(host) == ["configtest", "reload"]


def test_one_changed_site_uploads_only_its_file_and_keeps_the_previous_release(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    previous = os.readlink(host["dir"])
    new = tree_maker({**SITES, "sites/b.example.conf": "# site b, changed\n"})
    outcome = push_tree(LocalTransport(), host["target"], new)
    assert outcome.status == HostStatus.SUCCEEDED
    assert outcome.uploaded_paths == ["MANIFEST", "sites/b.example.conf"]
    assert live_files(host["dir"]) == new
    assert live_files(Path(previous)) == old  # hard-linked copy: the old release was not modified
    assert os.readlink(host["dir"]) != previous


def test_a_removed_site_disappears_from_the_new_release(host, tree_maker):
    push_tree(LocalTransport(), host["target"], tree_maker(SITES))
    smaller = tree_maker({k: v for k, v in SITES.items() if k != "sites/a.example.conf"})
    push_tree(LocalTransport(), host["target"], smaller)
    assert live_files(host["dir"]) == smaller


def test_a_failing_configtest_puts_the_previous_config_back_and_does_not_reload(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    target = Target(**{**host["target"].__dict__, "configtest_command": "echo 'Syntax error on line 1' >&2; false"})
    outcome = push_tree(LocalTransport(), target, tree_maker({**SITES, "sites/c.example.conf": "broken\n"}))
    assert (outcome.status, outcome.stage) == (HostStatus.FAILED, HostStage.CONFIGTEST)
    assert "Syntax error on line 1" in outcome.output
    assert "not reloaded" in outcome.error
    assert live_files(host["dir"]) == old
    assert commands(host) == ["configtest", "reload"]  # only the first deploy's


def test_a_host_that_does_not_answer_after_reload_gets_the_previous_config_back(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    target = Target(**{**host["target"].__dict__, "verify_url": f"http://127.0.0.1:{free_port()}/"})
    outcome = push_tree(LocalTransport(), target, tree_maker({**SITES, "x.conf": "x\n"}), verify_seconds=0.3)
    assert outcome.status == HostStatus.ROLLED_BACK
    assert live_files(host["dir"]) == old
    # the restore configtests the previous release before reloading it
    assert commands(host) == ["configtest", "reload", "configtest", "reload", "configtest", "reload"]


class DroppingTransport(LocalTransport):
    """Loses the connection after `writes` file writes."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    def write_file(self, path, data, *, atomic=True, mode=None):
        if self.writes == 0:
            raise TransportError("connection dropped", retryable=True)
        self.writes -= 1
        super().write_file(path, data, atomic=atomic, mode=mode)

    def remove_path(self, path):
        if self.writes == 0:
            raise TransportError("connection dropped", retryable=True)
        super().remove_path(path)


def test_a_connection_dropped_mid_upload_leaves_the_live_config_untouched(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    link = os.readlink(host["dir"])
    new = tree_maker({f"sites/n{i}.conf": f"# {i}\n" for i in range(10)})
    outcome = push_tree(DroppingTransport(writes=3), host["target"], new)
    assert (outcome.status, outcome.stage, outcome.retryable) == (HostStatus.FAILED, HostStage.UPLOAD, True)
    assert "live config was not touched" in outcome.error
    assert os.readlink(host["dir"]) == link and live_files(host["dir"]) == old
    # the next deploy cleans the staging leftovers and succeeds
    assert push_tree(LocalTransport(), host["target"], new).status == HostStatus.SUCCEEDED
    releases = os.listdir(f"{host['dir']}.releases")
    assert not [n for n in releases if n.startswith(".staging")]


class FailingRun(LocalTransport):
    def run(self, command, *, timeout=60):
        raise TransportError("connection dropped", retryable=True)


def test_a_connection_dropped_after_the_swap_puts_the_previous_config_back(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    outcome = push_tree(FailingRun(), host["target"], tree_maker({**SITES, "y.conf": "y\n"}))
    assert (outcome.status, outcome.stage) == (HostStatus.FAILED, HostStage.CONFIGTEST)
    assert "previous config was put back" in outcome.error
    assert live_files(host["dir"]) == old


def test_old_releases_are_pruned_but_the_previous_one_is_kept(host, tree_maker):
    for i in range(9):
        push_tree(LocalTransport(), host["target"], tree_maker({**SITES, "n.conf": f"{i}\n"}))
    releases = [n for n in os.listdir(f"{host['dir']}.releases") if not n.startswith(".")]
    assert len(releases) <= 5


def test_tree_diff_is_a_unified_diff_of_changed_added_and_removed_files():
    diff = tree_diff({"a.conf": "1\n", "gone.conf": "x\n"}, {"a.conf": "2\n", "new.conf": "y\n"})
    assert "--- a/a.conf\n+++ b/a.conf\n" in diff and "-1\n+2\n" in diff
    assert "--- /dev/null\n+++ b/new.conf" in diff
    assert "--- a/gone.conf\n+++ /dev/null" in diff


EDGE = {
    "hostpanel.conf": "Include edge.conf\n",
    "edge.conf": "# Apache behind the edge\n",
    "edge/nginx.conf": "# the edge\n",
    "edge/tls/a.example.pem": "cert and key a\n",
}


def edge_target(host) -> Target:
    log = host["log"]
    return Target(
        **{
            **host["target"].__dict__,
            "edge_configtest_command": f"echo edge-configtest >> {log}",
            "edge_reload_command": f"echo edge-reload >> {log}",
        }
    )


def test_on_an_edge_a_config_change_tests_and_reloads_apache_then_nginx_and_a_new_certificate_neither(host, tree_maker):
    target = edge_target(host)
    push_tree(LocalTransport(), target, tree_maker(EDGE))
    assert commands(host) == ["configtest", "edge-configtest", "reload", "edge-reload"]
    more = {**EDGE, "edge/tls/b.example.pem": "cert and key b\n"}
    outcome = push_tree(LocalTransport(), target, tree_maker(more))
    assert outcome.status == HostStatus.SUCCEEDED and outcome.change == "map"
    assert commands(host) == ["configtest", "edge-configtest", "reload", "edge-reload"]  # nothing more
    assert oct(os.stat(host["dir"] / "edge/tls/b.example.pem").st_mode & 0o777) == "0o640"  # nginx's workers read it


def test_on_an_edge_a_failing_nginx_configtest_puts_the_previous_config_back_and_reloads_nothing(host, tree_maker):
    old = tree_maker(EDGE)
    push_tree(LocalTransport(), edge_target(host), old)
    failing = Target(
        **{**edge_target(host).__dict__, "edge_configtest_command": "echo 'nginx: [emerg] bad' >&2; false"}
    )
    outcome = push_tree(LocalTransport(), failing, tree_maker({**EDGE, "edge/nginx.conf": "# broken\n"}))
    assert (outcome.status, outcome.stage) == (HostStatus.FAILED, HostStage.CONFIGTEST)
    assert "nginx: [emerg] bad" in outcome.output
    assert live_files(host["dir"]) == old
    assert commands(host) == ["configtest", "edge-configtest", "reload", "edge-reload", "configtest"]
