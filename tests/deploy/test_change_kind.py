"""push_tree's classification of a release (deploy.release): map-only when the new tree differs
from the ACTIVATED release, which config_dir points at, in routes.map alone (switched in, no configtest, no
reload); config otherwise. On the local transport with stand-in trees (fast)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from balancers.choices import ChangeKind, HostStage, HostStatus
from deploy.plan import ACTIVATED_MARKER, Target
from deploy.release import Hooks, push_tree
from deploy.transport.protocol import LocalTransport, TransportError
from devrig.net import free_port
from rendering.manifest import MANIFEST, tree_digest
from rendering.routes import ROUTES_MAP
from tests.factories import live_files, logged_commands, logging_host, make_tree

BASE = {
    "hostpanel.conf": "Include http.conf\n",
    "http.conf": "Include routing-http.conf\n",
    ROUTES_MAP: "# site a.example\na.example live|gold|/plone/a|s|__ac|1200\n",
}
MORE_ROUTES = BASE[ROUTES_MAP] + "# site b.example\nb.example suspended|gold|/plone/b|s|__ac|1200\n"


class Recording(LocalTransport):
    """The local transport, recording every command it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []

    def run(self, command, *, timeout=60, **kwargs):
        self.commands.append(command)
        return super().run(command, timeout=timeout, **kwargs)


class SwitchThenDrop(Recording):
    """Switches config_dir to the new release, then loses the connection (the reply never arrives)."""

    def __init__(self, release: str) -> None:
        super().__init__()
        self.release, self.dropped = release, False

    def symlink_switch(self, link, target):
        super().symlink_switch(link, target)
        if target == self.release and not self.dropped:
            self.dropped = True
            raise TransportError("connection dropped", retryable=True)


@pytest.fixture
def host(tmp_path):
    made = logging_host(tmp_path)
    made["marker"] = Path(f"{made['dir']}.releases") / ACTIVATED_MARKER
    return made


def commands(host) -> list[str]:
    return logged_commands(host)


def push(host, tree, transport=None, **target_fields):
    stages: list[str] = []
    target = Target(**{**host["target"].__dict__, **target_fields})
    outcome = push_tree(transport or Recording(), target, tree, hooks=Hooks(progress=stages.append), verify_seconds=0.3)
    return outcome, stages


def deployed(host) -> dict[str, str]:
    """BASE deployed and activated (configtest + reload)."""
    tree = make_tree(BASE)
    outcome, _ = push(host, tree)
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert commands(host) == ["configtest", "reload"]
    return tree


def test_a_release_that_changes_routes_map_alone_is_switched_in_without_configtest_or_reload(host):
    old = deployed(host)
    new = make_tree({**BASE, ROUTES_MAP: MORE_ROUTES})
    transport = Recording()
    # an unanswered verify URL: were the verify stage run, the release would be rolled back
    outcome, stages = push(host, new, transport, verify_url=f"http://127.0.0.1:{free_port()}/")
    assert (outcome.status, outcome.stage, outcome.change) == (HostStatus.SUCCEEDED, HostStage.DONE, ChangeKind.MAP)
    assert stages == [HostStage.UPLOAD, HostStage.SWAP, HostStage.MAP, HostStage.DONE]
    assert transport.commands == [] and commands(host) == ["configtest", "reload"]  # the first deploy's only
    assert not outcome.reload_attempted and outcome.output == ""
    assert outcome.uploaded_paths == [MANIFEST, ROUTES_MAP]
    assert live_files(host["dir"]) == new
    assert outcome.activated == tree_digest(new) == host["marker"].read_text().strip()
    assert live_files(Path(f"{host['dir']}.releases") / tree_digest(old)) == old  # kept for a quick way back


@pytest.mark.parametrize(
    "changed",
    [
        {"http.conf": "Include routing-http.conf\n# changed\n"},  # another file changed with the map
        {"sites/b.example.conf": "<VirtualHost *:443>\n</VirtualHost>\n"},  # a file added
    ],
)
def test_a_release_that_changes_any_other_file_is_configtested_and_reloaded(host, changed):
    deployed(host)
    new = make_tree({**BASE, ROUTES_MAP: MORE_ROUTES, **changed})
    outcome, stages = push(host, new)
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert HostStage.MAP not in stages and HostStage.CONFIGTEST in stages and HostStage.RELOAD in stages
    assert commands(host) == ["configtest", "reload", "configtest", "reload"]
    assert live_files(host["dir"]) == new


def test_a_release_that_removes_a_file_is_a_config_change(host):
    deployed(host)
    new = make_tree({k: v for k, v in BASE.items() if k != "http.conf"} | {ROUTES_MAP: MORE_ROUTES})
    outcome, _ = push(host, new)
    assert outcome.change == ChangeKind.CONFIG and commands(host)[-2:] == ["configtest", "reload"]


@pytest.mark.parametrize("marker", [None, "switching 0123", "unknown", "not a digest"])
def test_without_an_activated_release_a_map_change_is_configtested_and_reloaded(host, marker):
    deployed(host)
    if marker is None:
        host["marker"].unlink()
    else:
        host["marker"].write_text(f"{marker}\n")
    outcome, stages = push(host, make_tree({**BASE, ROUTES_MAP: MORE_ROUTES}))
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert HostStage.MAP not in stages
    assert commands(host) == ["configtest", "reload", "configtest", "reload"]


def test_when_config_dir_points_at_another_release_than_the_activated_one_it_is_a_config_change(host):
    deployed(host)
    other = make_tree({**BASE, "http.conf": "# switched by hand, never reloaded\n"})
    other_release = Path(f"{host['dir']}.releases") / tree_digest(other)
    other_release.mkdir()
    for path, text in other.items():
        (other_release / path).write_text(text)
    os.remove(host["dir"])
    os.symlink(other_release, host["dir"])  # the marker still names BASE's release
    new = make_tree({**BASE, ROUTES_MAP: MORE_ROUTES})  # differs from the ACTIVATED release in the map alone
    outcome, _ = push(host, new)
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert commands(host) == ["configtest", "reload", "configtest", "reload"]
    assert live_files(host["dir"]) == new


def test_a_connection_dropped_in_a_map_only_switch_puts_the_previous_release_back_without_a_reload(host):
    old = deployed(host)
    before = os.readlink(host["dir"])
    new = make_tree({**BASE, ROUTES_MAP: MORE_ROUTES})
    transport = SwitchThenDrop(f"{host['dir']}.releases/{tree_digest(new)}")
    outcome, stages = push(host, new, transport)
    assert transport.dropped and outcome.change == ChangeKind.MAP
    assert (outcome.status, outcome.stage) == (HostStatus.FAILED, HostStage.SWAP)
    assert "connection dropped" in outcome.error and "Apache was not reloaded" in outcome.error
    assert HostStage.RESTORE not in stages and HostStage.MAP not in stages
    assert transport.commands == [] and commands(host) == ["configtest", "reload"]
    assert os.readlink(host["dir"]) == before and live_files(host["dir"]) == old
    # the marker names the previous release again: Apache never stopped running it
    assert outcome.activated == tree_digest(old) == host["marker"].read_text().strip()


def test_an_error_after_a_map_only_switch_puts_the_previous_map_back_without_a_reload(host):
    old = deployed(host)
    new = make_tree({**BASE, ROUTES_MAP: MORE_ROUTES})

    def progress(stage):
        if stage == HostStage.MAP:
            raise RuntimeError("the progress callback failed")

    transport = Recording()
    outcome = push_tree(transport, host["target"], new, hooks=Hooks(progress=progress))
    assert (outcome.status, outcome.change) == (HostStatus.FAILED, ChangeKind.MAP)
    assert "RuntimeError: the progress callback failed" in outcome.error and "not reloaded" in outcome.error
    assert transport.commands == [] and commands(host) == ["configtest", "reload"]
    assert live_files(host["dir"]) == old
    assert outcome.activated == tree_digest(old) == host["marker"].read_text().strip()
    # and the retry is map-only again
    again, _ = push(host, new)
    assert (again.status, again.change) == (HostStatus.SUCCEEDED, ChangeKind.MAP)
    assert commands(host) == ["configtest", "reload"] and live_files(host["dir"]) == new
