"""The spare copy of the activated release over a real sshd (built in the background on the host, taken by
the next release only when it is that release's untouched copy), and a map-only change on real Apache."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from balancers.choices import DeploymentStatus, HostStatus
from balancers.services import deployment_start
from deploy.release import push_tree
from deploy.swap import KEEP_RELEASES, SPARE_PREFIX, manifest_patch
from deploy.transport.protocol import ManifestPatch
from deploy.transport.ssh import SSHTransport
from devrig.fleet import add_site
from devrig.sshd import SshServer
from rendering.manifest import MANIFEST, changed_files, tree_digest
from tests.factories import ACTOR, live_files, logging_host, make_tree

pytestmark = pytest.mark.real

SITES = {
    "hostpanel.conf": "Include sites/*.conf\n",
    "sites/a.example.conf": "# site a\n",
    "tls/a.example.crt": "certificate a\n",
    "tls/a.example.key": "key a\n",
}


@pytest.fixture
def sshd(tmp_path):
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


@pytest.fixture
def ssh(sshd):
    transport = SSHTransport(
        host="127.0.0.1",
        port=sshd.port,
        user=sshd.user,
        host_key=sshd.host_key,
        key_path=str(sshd.client_key_path),
        timeout=10,
    )
    yield transport
    transport.close()


@pytest.fixture
def host(tmp_path):
    made = logging_host(tmp_path)
    yield made
    settled(Path(f"{made['dir']}.releases"))  # the host's background work is over before the test ends


def settled(releases: Path, spare: str = "", seconds: float = 20.0) -> list[str]:
    """The releases directory once the background work is done: `spare` there (if given), nothing being
    built or removed."""
    deadline = time.monotonic() + seconds
    while True:
        names = os.listdir(releases) if releases.exists() else []
        busy = [n for n in names if ".tmp-" in n or n.startswith(".trash-")]
        if not busy and (not spare or spare in names):
            return names
        assert time.monotonic() < deadline, f"still busy: {names}"
        time.sleep(0.05)


def site(tree_maker, letter: str) -> dict[str, str]:
    return tree_maker({**SITES, f"sites/{letter}.example.conf": f"# site {letter}\n"})


def test_the_next_release_over_ssh_is_built_on_the_spare_built_in_the_background(ssh, host, tree_maker):
    releases = Path(f"{host['dir']}.releases")
    first = tree_maker(SITES)
    assert push_tree(ssh, host["target"], first).status == HostStatus.SUCCEEDED
    spare = f"{SPARE_PREFIX}{tree_digest(first)}"
    settled(releases, spare)
    assert os.path.samefile(releases / spare / MANIFEST, releases / tree_digest(first) / MANIFEST)
    second = site(tree_maker, "b")
    outcome = push_tree(ssh, host["target"], second)
    assert outcome.status == HostStatus.SUCCEEDED and outcome.spare_taken
    assert live_files(host["dir"]) == second
    assert live_files(releases / tree_digest(first)) == first  # the base is as it was
    key = releases / tree_digest(second) / "tls/a.example.key"
    assert key.stat().st_mode & 0o777 == 0o600
    names = settled(releases, f"{SPARE_PREFIX}{tree_digest(second)}")
    assert spare not in names


def test_a_deploy_right_after_another_waits_for_the_spare_or_copies_and_is_right_either_way(ssh, host, tree_maker):
    trees = [site(tree_maker, letter) for letter in "bcdef"]
    for tree in trees:  # no pause: the next build may find the spare still being built (it waits on its lock)
        assert push_tree(ssh, host["target"], tree).status == HostStatus.SUCCEEDED
        assert live_files(host["dir"]) == tree
    settled(Path(f"{host['dir']}.releases"), f"{SPARE_PREFIX}{tree_digest(trees[-1])}")


def tamper_extra_file(spare: Path) -> None:
    (spare / "sites/evil.example.conf").write_text("# not written by HostPanel\n")


def tamper_manifest(spare: Path) -> None:
    text = (spare / MANIFEST).read_text()
    (spare / MANIFEST).unlink()
    (spare / MANIFEST).write_text(text.replace("sites/a.example.conf", "sites/b.example.conf"))


def tamper_replaced_key(spare: Path) -> None:
    (spare / "tls/a.example.key").unlink()
    (spare / "tls/a.example.key").write_text("another key\n")


@pytest.mark.parametrize("tamper", [tamper_extra_file, tamper_manifest, tamper_replaced_key])
def test_a_tampered_spare_is_not_used_over_ssh(ssh, host, tree_maker, tamper):
    releases = Path(f"{host['dir']}.releases")
    first = tree_maker(SITES)
    push_tree(ssh, host["target"], first)
    spare = releases / f"{SPARE_PREFIX}{tree_digest(first)}"
    settled(releases, spare.name)
    tamper(spare)
    second = site(tree_maker, "b")
    outcome = push_tree(ssh, host["target"], second)
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(host["dir"]) == second
    assert live_files(releases / tree_digest(first)) == first
    assert spare.name not in settled(releases, f"{SPARE_PREFIX}{tree_digest(second)}")  # discarded


def test_a_spare_of_another_release_is_not_used_over_ssh(ssh, host, tree_maker):
    releases = Path(f"{host['dir']}.releases")
    first, second = tree_maker(SITES), site(tree_maker, "b")
    push_tree(ssh, host["target"], first)
    settled(releases, f"{SPARE_PREFIX}{tree_digest(first)}")
    push_tree(ssh, host["target"], second)
    spare = releases / f"{SPARE_PREFIX}{tree_digest(second)}"
    settled(releases, spare.name)
    shutil.rmtree(spare)
    shutil.copytree(releases / tree_digest(first), spare, copy_function=os.link)  # the first release's copy
    third = site(tree_maker, "c")
    outcome = push_tree(ssh, host["target"], third)
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(host["dir"]) == third


def test_pruning_over_ssh_is_done_in_the_background_and_keeps_the_live_and_previous_release(ssh, host, tree_maker):
    releases = Path(f"{host['dir']}.releases")
    trees = [site(tree_maker, f"s{i}") for i in range(KEEP_RELEASES + 3)]
    for tree in trees:
        assert push_tree(ssh, host["target"], tree).status == HostStatus.SUCCEEDED
        # a pruned release loses its name before the push returns (a later release can never reuse it)
        assert len([n for n in os.listdir(releases) if len(n) == 64]) <= KEEP_RELEASES
    names = settled(releases, f"{SPARE_PREFIX}{tree_digest(trees[-1])}")
    assert len([n for n in names if len(n) == 64]) == KEEP_RELEASES
    assert {tree_digest(trees[-1]), tree_digest(trees[-2])} <= set(names)
    assert [n for n in names if n.startswith(SPARE_PREFIX)] == [f"{SPARE_PREFIX}{tree_digest(trees[-1])}"]


def test_a_map_only_change_on_real_apache_is_built_on_the_spare(farm):
    add_site("first.example", farm.balancer)
    first = deployment_start(actor=ACTOR)
    first.refresh_from_db()
    assert first.status == DeploymentStatus.SUCCEEDED
    for fe in (farm.fe1, farm.fe2):
        live = os.path.basename(os.readlink(fe.config_dir))
        settled(fe.config_dir.with_name("hostpanel.releases"), SPARE_PREFIX + live)
    reloads = [fe.reloads() for fe in (farm.fe1, farm.fe2)]
    add_site("second.example", farm.balancer)
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED, [h.error for h in deployment.hosts.all()]
    for row in deployment.hosts.all():
        assert row.change_kind == "map" and "built on the spare copy" in row.output, row.output
    for fe in (farm.fe1, farm.fe2):
        assert fe.backend_for("second.example") is not None
        settled(fe.config_dir.with_name("hostpanel.releases"))
    assert [fe.reloads() for fe in (farm.fe1, farm.fe2)] == reloads


def write_release(root: Path, tree: dict[str, str]) -> Path:
    release = root / tree_digest(tree)
    for path, text in tree.items():
        (release / path).parent.mkdir(parents=True, exist_ok=True)
        (release / path).write_text(text)
    return release


@pytest.mark.parametrize(
    ("changed", "removed"),
    [
        ({"routes.map": "a.example live\nb.example live\n"}, []),
        ({"aaa.conf": "# first of all\n", "zzz.conf": "# last of all\n", "sites/b.example.conf": "# b\n"}, []),
        ({"sites/a.example.conf": "# site a, changed\n"}, ["tls/a.example.crt", "tls/a.example.key"]),
    ],
)
def test_the_manifest_is_sent_as_a_patch_and_rebuilt_on_the_host_byte_for_byte(ssh, tmp_path, changed, removed):
    base_tree = make_tree({**SITES, "routes.map": "a.example live\n"})
    base = write_release(tmp_path / "releases", base_tree)
    new_files = {k: v for k, v in {**base_tree, **changed}.items() if k not in removed and k != MANIFEST}
    new = make_tree(new_files)
    differ = sorted(changed_files(base_tree, new) | {MANIFEST})
    patch = manifest_patch(new, differ, removed)
    assert patch is not None and len(patch.add.splitlines()) == len(changed)
    dst = str(tmp_path / "releases" / "staging")
    files = {path: new[path].encode() for path in differ if path in new}
    ssh._build_tree(dst, files, base=str(base), remove=removed, modes={}, spare=None, patch=patch)
    assert live_files(Path(dst)) == new  # the MANIFEST too, rebuilt from the base's and the patch
    assert (base / MANIFEST).read_text() == base_tree[MANIFEST]  # replaced in the copy, not written into
    assert not os.path.samefile(base / MANIFEST, Path(dst) / MANIFEST)
    assert not [n for n in os.listdir(dst) if n.startswith(".hp-")]


def test_a_patch_that_does_not_give_the_wanted_manifest_falls_back_to_the_whole_one(ssh, tmp_path, monkeypatch):
    base_tree = make_tree(SITES)
    base = write_release(tmp_path / "releases", base_tree)
    new = make_tree({**SITES, "sites/b.example.conf": "# b\n"})
    wrong = ManifestPatch(drop=("sites/b.example.conf",), add="", digest=tree_digest(new))  # its line left out
    calls = []
    build = ssh._build_tree
    monkeypatch.setattr(ssh, "_build_tree", lambda *a, **kw: calls.append(kw.get("patch")) or build(*a, **kw))
    dst = str(tmp_path / "releases" / "staging")
    files = {"sites/b.example.conf": b"# b\n", MANIFEST: new[MANIFEST].encode()}
    ssh.build_tree(dst, files, base=str(base), manifest=wrong)
    assert calls == [wrong, None]  # refused on the host (its sha256), then sent whole
    assert live_files(Path(dst)) == new


def test_a_lock_that_cannot_be_opened_costs_the_spare_never_the_deploy(ssh, host, tree_maker):
    releases = Path(f"{host['dir']}.releases")
    first = tree_maker(SITES)
    push_tree(ssh, host["target"], first)
    settled(releases, f"{SPARE_PREFIX}{tree_digest(first)}")
    (releases / ".spare.lock").unlink()
    (releases / ".spare.lock").mkdir()  # cannot be opened for writing: no lock, so no spare taken
    second = site(tree_maker, "b")
    outcome = push_tree(ssh, host["target"], second)
    assert outcome.status == HostStatus.SUCCEEDED and not outcome.spare_taken
    assert live_files(host["dir"]) == second
    assert live_files(releases / tree_digest(first)) == first
