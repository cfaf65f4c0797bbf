"""The spare copy of the activated release (deploy.swap.after_activation): the next release is built on it
instead of copying its base again, but only on an untouched copy of that very base (local transport)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from balancers.choices import HostStatus
from deploy.release import push_tree
from deploy.swap import KEEP_RELEASES, SPARE_PREFIX
from deploy.transport.protocol import LocalTransport
from rendering.manifest import MANIFEST, tree_digest
from tests.factories import live_files, logging_host

SITES = {
    "hostpanel.conf": "Include sites/*.conf\n",
    "routes.map": "a.example live\n",
    "sites/a.example.conf": "# site a\n",
    "tls/a.example.crt": "certificate a\n",
    "tls/a.example.key": "key a\n",
}


@pytest.fixture
def host(tmp_path):
    return logging_host(tmp_path)


def releases(host) -> Path:
    return Path(f"{host['dir']}.releases")


def spares(host) -> list[str]:
    return sorted(n for n in os.listdir(releases(host)) if n.startswith(SPARE_PREFIX))


def with_map(tree_maker, line: str) -> dict[str, str]:
    return tree_maker({**SITES, "routes.map": f"a.example live\n{line}\n"})


def test_an_activated_release_gets_a_hard_linked_spare_named_by_its_digest(host, tree_maker):
    tree = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], tree)
    digest = tree_digest(tree)
    assert spares(host) == [f"{SPARE_PREFIX}{digest}"]
    spare, release = releases(host) / f"{SPARE_PREFIX}{digest}", releases(host) / digest
    assert live_files(spare) == live_files(release) == tree
    assert os.path.samefile(spare / "sites/a.example.conf", release / "sites/a.example.conf")


def test_the_next_release_is_built_on_the_spare_and_the_old_release_stays_as_it_was(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    new = with_map(tree_maker, "b.example live")
    outcome = push_tree(LocalTransport(), host["target"], new)
    assert outcome.status == HostStatus.SUCCEEDED and outcome.spare_taken
    assert "built on the spare copy" in outcome.timings_line()
    assert outcome.uploaded_paths == [MANIFEST, "routes.map"]
    assert live_files(host["dir"]) == new
    assert live_files(releases(host) / tree_digest(old)) == old
    assert spares(host) == [f"{SPARE_PREFIX}{tree_digest(new)}"]  # the old spare was taken, a new one made
    key = releases(host) / tree_digest(new) / "tls/a.example.key"
    assert key.stat().st_mode & 0o777 == 0o600


def tamper_extra_file(spare: Path) -> None:
    (spare / "sites/evil.example.conf").write_text("# not written by HostPanel\n")


def tamper_replaced_file(spare: Path) -> None:
    target = spare / "sites/a.example.conf"
    target.unlink()
    target.write_text("# site a, replaced by hand\n")


def tamper_manifest(spare: Path) -> None:
    text = (spare / MANIFEST).read_text()
    (spare / MANIFEST).unlink()
    (spare / MANIFEST).write_text(text + "0" * 64 + "  sites/evil.example.conf\n")


def tamper_removed_file(spare: Path) -> None:
    (spare / "tls/a.example.crt").unlink()


@pytest.mark.parametrize("tamper", [tamper_extra_file, tamper_replaced_file, tamper_manifest, tamper_removed_file])
def test_a_tampered_spare_is_not_used(host, tree_maker, tamper):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    time.sleep(0.02)  # a directory's mtime ticks with the kernel's clock (a few ms): as on a real host, later
    tamper(releases(host) / f"{SPARE_PREFIX}{tree_digest(old)}")
    new = with_map(tree_maker, "b.example live")
    outcome = push_tree(LocalTransport(), host["target"], new)
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(host["dir"]) == new  # copied from the release itself
    assert live_files(releases(host) / tree_digest(old)) == old
    assert spares(host) == [f"{SPARE_PREFIX}{tree_digest(new)}"]  # the tampered one discarded


def test_a_spare_of_another_release_under_the_bases_name_is_not_used(host, tree_maker):
    first = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], first)
    second = with_map(tree_maker, "b.example live")
    push_tree(LocalTransport(), host["target"], second)
    spare = releases(host) / f"{SPARE_PREFIX}{tree_digest(second)}"
    shutil.rmtree(spare)
    shutil.copytree(releases(host) / tree_digest(first), spare, copy_function=os.link)  # the FIRST one's copy
    third = with_map(tree_maker, "c.example live")
    outcome = push_tree(LocalTransport(), host["target"], third)
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(host["dir"]) == third


def test_a_spare_that_is_a_symlink_to_its_base_is_not_used_and_the_base_is_not_written(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    spare = releases(host) / f"{SPARE_PREFIX}{tree_digest(old)}"
    shutil.rmtree(spare)
    spare.symlink_to(tree_digest(old))
    outcome = push_tree(LocalTransport(), host["target"], with_map(tree_maker, "b.example live"))
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(releases(host) / tree_digest(old)) == old


def test_a_release_put_back_after_a_failure_gets_a_spare_again_and_the_next_one_uses_it(host, tree_maker):
    old = tree_maker(SITES)
    push_tree(LocalTransport(), host["target"], old)
    target = host["target"].__class__(**{**host["target"].__dict__, "configtest_command": "false"})
    bad = tree_maker({**SITES, "sites/b.example.conf": "broken\n"})
    outcome = push_tree(LocalTransport(), target, bad)
    assert outcome.status == HostStatus.FAILED and outcome.spare_taken  # it took the spare, then failed
    assert live_files(host["dir"]) == old and live_files(releases(host) / tree_digest(old)) == old
    assert spares(host) == [f"{SPARE_PREFIX}{tree_digest(old)}"]  # made again for the release put back
    assert tree_digest(bad) in os.listdir(releases(host))  # the failed release is kept (never the live one)
    again = push_tree(LocalTransport(), host["target"], with_map(tree_maker, "b.example live"))
    assert again.status == HostStatus.SUCCEEDED and again.spare_taken
    assert live_files(host["dir"]) == with_map(tree_maker, "b.example live")


def test_stale_spares_and_leftovers_go_and_pruning_keeps_the_live_and_previous_release(host, tree_maker):
    trees = [with_map(tree_maker, f"s{i}.example live") for i in range(KEEP_RELEASES + 3)]
    root = None
    for i, tree in enumerate(trees):
        if i == 2:
            root = releases(host)
            (root / f"{SPARE_PREFIX}{'0' * 64}").mkdir()  # a stale spare of some release
            (root / f"{SPARE_PREFIX}{'1' * 64}.tmp-0123abcd").mkdir()  # a copy a dropped build left
            (root / ".spare-notes").write_text("not ours\n")  # a name HostPanel does not give
        assert push_tree(LocalTransport(), host["target"], tree).status == HostStatus.SUCCEEDED
    assert root is not None
    names = os.listdir(root)
    assert set(spares(host)) == {".spare-notes", f"{SPARE_PREFIX}{tree_digest(trees[-1])}"}
    assert len([n for n in names if len(n) == 64]) == KEEP_RELEASES
    assert {tree_digest(trees[-1]), tree_digest(trees[-2])} <= set(names)
    assert not [n for n in names if n.startswith(".trash-") or ".tmp-" in n]
