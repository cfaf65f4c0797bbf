"""A deploy moves or deletes only what HostPanel wrote (issue: an operator pointed config_dir at any
directory; the first deploy renamed it into .releases/legacy-* and the pruning later removed it). On the
local transport with a stand-in tree; tests/deploy/test_config_dir_real.py does it over SSH."""

from __future__ import annotations

import os

import pytest

from balancers.choices import HostStage, HostStatus
from deploy.checks import frontend_pending_diff
from deploy.plan import Target
from deploy.release import push_tree
from deploy.swap import KEEP_RELEASES
from deploy.transport.protocol import LocalTransport
from rendering.manifest import FOREIGN_NOT_SHOWN, hostpanel_paths, manifest_text, tree_diff
from tests.factories import live_files, logged_commands, logging_host, make_local_frontend

SITES = {"hostpanel.conf": "Include sites/*.conf\n", "sites/a.example.conf": "# site a\n"}


@pytest.fixture
def host(tmp_path):
    return logging_host(tmp_path)


def snapshot(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_directory_holding_files_hostpanel_did_not_write_is_left_untouched_and_the_deploy_refused(host, tree_maker):
    host["dir"].mkdir(parents=True)
    (host["dir"] / "secret_key").write_text("do not lose me\n")
    (host["dir"] / "db").mkdir()
    (host["dir"] / "db" / "db.sqlite3").write_bytes(b"SQLite format 3\0")
    before = snapshot(host["dir"])
    outcome = push_tree(LocalTransport(), host["target"], tree_maker(SITES))
    assert (outcome.status, outcome.stage, outcome.retryable) == (HostStatus.FAILED, HostStage.UPLOAD, False)
    assert f"{host['dir']} holds files HostPanel did not write (db, secret_key); move them away" in outcome.error
    assert not os.path.islink(host["dir"]) and snapshot(host["dir"]) == before
    assert not os.path.exists(f"{host['dir']}.releases")  # nothing created next to it either
    assert logged_commands(host) == []
    # staff move it away: the next deploy goes through
    os.rename(host["dir"], f"{host['dir']}.moved")
    assert push_tree(LocalTransport(), host["target"], tree_maker(SITES)).status == HostStatus.SUCCEEDED
    assert snapshot(host["dir"].parent / "hostpanel.moved") == before


def test_a_manifest_that_does_not_list_every_file_does_not_make_a_directory_hostpanels(host, tree_maker):
    tree = tree_maker(SITES)
    host["dir"].mkdir(parents=True)
    for path, text in tree.items():
        (host["dir"] / path).parent.mkdir(parents=True, exist_ok=True)
        (host["dir"] / path).write_text(text)
    (host["dir"] / "sites" / "a.example.conf").write_text("# edited by hand\n")
    (host["dir"] / "id_ed25519").write_text("a key\n")
    outcome = push_tree(LocalTransport(), host["target"], tree_maker({**SITES, "b.conf": "b\n"}))
    assert outcome.status == HostStatus.FAILED
    assert "holds files HostPanel did not write (id_ed25519, sites/a.example.conf)" in outcome.error
    assert (host["dir"] / "id_ed25519").read_text() == "a key\n"


def test_a_file_where_config_dir_should_be_is_left_untouched(host, tree_maker):
    host["dir"].parent.mkdir(parents=True)
    host["dir"].write_text("not a directory\n")
    outcome = push_tree(LocalTransport(), host["target"], tree_maker(SITES))
    assert outcome.status == HostStatus.FAILED and "HostPanel did not write (hostpanel)" in outcome.error
    assert host["dir"].read_text() == "not a directory\n"


@pytest.mark.parametrize("kind", ["empty", "written by hostpanel"])
def test_an_empty_directory_or_one_hostpanel_wrote_is_kept_as_a_release(host, tree_maker, kind):
    host["dir"].mkdir(parents=True)
    if kind != "empty":
        (host["dir"] / "hostpanel.conf").write_text("# old\n")
        (host["dir"] / "MANIFEST").write_text(manifest_text({"hostpanel.conf": "# old\n"}))
    tree = tree_maker(SITES)
    assert push_tree(LocalTransport(), host["target"], tree).status == HostStatus.SUCCEEDED
    assert live_files(host["dir"]) == tree
    assert len([n for n in os.listdir(f"{host['dir']}.releases") if n.startswith("legacy-")]) == 1


def test_pruning_removes_only_releases_hostpanel_named(host, tree_maker):
    releases = host["dir"].parent / "hostpanel.releases"
    releases.mkdir(parents=True)
    foreign = {"backup-2026": "keep\n", "legacy-old": "keep\n", "a" * 63: "keep\n", ".staging-mine": "keep\n"}
    for name, text in foreign.items():
        (releases / name).mkdir()
        (releases / name / "file").write_text(text)
        os.utime(releases / name, (1, 1))  # the oldest entries: the first a name-blind pruning would take
    for i in range(KEEP_RELEASES + 3):
        assert push_tree(LocalTransport(), host["target"], tree_maker({**SITES, "n.conf": f"{i}\n"})).status == (
            HostStatus.SUCCEEDED
        )
    names = os.listdir(releases)
    assert set(foreign) <= set(names)
    assert all((releases / name / "file").read_text() == "keep\n" for name in foreign)
    assert len([n for n in names if len(n) == 64]) == KEEP_RELEASES


def test_the_pending_diff_names_a_live_file_hostpanel_did_not_write_but_never_shows_it(db, tmp_path, tree_maker):
    frontend = make_local_frontend(tmp_path)
    tree = tree_maker(SITES)
    assert push_tree(LocalTransport(), Target.of(frontend), tree).status == HostStatus.SUCCEEDED
    live = tmp_path / "local1" / "hostpanel"
    (live / "sites" / "a.example.conf").write_text("# site a, edited by hand\n")  # HostPanel's file: shown
    (live / "notes.txt").write_text("db password: hunter2\n")  # not in the MANIFEST: named only
    diff = frontend_pending_diff(frontend, tree=tree)
    assert "-# site a, edited by hand\n+# site a\n" in diff
    assert f"--- live/notes.txt\n+++ /dev/null\n{FOREIGN_NOT_SHOWN}\n" in diff
    assert "hunter2" not in diff


def test_without_a_manifest_that_parses_no_live_file_is_shown():
    live = {"MANIFEST": "not a manifest\n", "hostpanel.conf": "secret\n"}
    assert hostpanel_paths(live) == set()
    diff = tree_diff(live, {"hostpanel.conf": "# new\n"}, foreign=set(live) - hostpanel_paths(live))
    assert "secret" not in diff and "not a manifest" not in diff
    assert f"--- a/hostpanel.conf\n+++ b/hostpanel.conf\n{FOREIGN_NOT_SHOWN}\n" in diff
