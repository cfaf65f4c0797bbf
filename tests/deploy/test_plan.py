"""deploy.plan: one read of a front-end per deploy attempt, and the one rule that says whether a release is
unchanged, map-only or a config change — the same decision for the release and the post-deploy probes.
On the local transport with stand-in trees (fast; the probes reach a port nobody listens on)."""

from __future__ import annotations

import ast
import os
from collections import Counter
from pathlib import Path

import pytest

from balancers.choices import ChangeKind, HostStatus
from balancers.models import FrontEnd
from deploy import plan as plan_module
from deploy import probes as probes_module
from deploy import release as release_module
from deploy.plan import ACTIVATED_MARKER, Target, change_of, read_plan
from deploy.probes import push_and_probe
from deploy.release import push_tree
from deploy.transport.protocol import LocalTransport, TransportError
from devrig.net import free_port
from rendering.manifest import MANIFEST, tree_digest
from rendering.routes import ROUTES_MAP
from tests.factories import logged_commands, logging_host, make_tree

ROOT = Path(__file__).resolve().parents[2]


def routes(count: int) -> str:
    return "".join(f"# site s{i}.example\ns{i}.example live|gold|/plone/s{i}|s|__ac|1200\n" for i in range(count))


def tree(sites: int, **extra: str) -> dict[str, str]:
    return make_tree({"hostpanel.conf": "Include http.conf\n", "http.conf": "x\n", ROUTES_MAP: routes(sites), **extra})


@pytest.fixture
def host(tmp_path):
    made = logging_host(tmp_path)
    made["marker"] = Path(f"{made['dir']}.releases") / ACTIVATED_MARKER
    return made


@pytest.fixture
def probing(settings):
    settings.HOSTPANEL_PROBES = True
    settings.HOSTPANEL_PROBE_SAMPLE = 20
    settings.HOSTPANEL_PROBE_SAMPLE_MAP_ONLY = 5
    settings.HOSTPANEL_PROBE_TIMEOUT = 1.0
    return settings


def frontend() -> FrontEnd:
    return FrontEnd(name="fe1", address="127.0.0.1", http_listen=f"127.0.0.1:{free_port()}")


def activated(host, files: dict[str, str]) -> None:
    assert push_tree(LocalTransport(), host["target"], files).status == HostStatus.SUCCEEDED


def switched_unactivated(host, files: dict[str, str]) -> None:
    """config_dir points at a release that was switched in but never configtested: a worker died at swap."""
    release = Path(f"{host['dir']}.releases") / tree_digest(files)
    release.mkdir(parents=True)
    for path, text in files.items():
        (release / path).write_text(text)
    os.remove(host["dir"])
    os.symlink(release, host["dir"])
    host["marker"].write_text(f"switching {tree_digest(files)}\n")


def probed(outcome) -> int | None:
    """How many names the post-deploy probes looked at (None: no probes ran)."""
    for line in outcome.output.splitlines():
        if line.startswith("post-deploy probes: "):
            return int(line.split()[2])
    return None


# --- the two old rules disagreed; one plan now decides for both ---------------------------------------------


def test_a_map_change_from_a_switched_but_unactivated_release_is_a_config_change_for_the_probes_too(host, probing):
    """The old probe rule read the live MANIFEST alone (map-only: 5 names sampled); the old release rule
    read the activated marker (config: configtest + reload). One plan: config for both (20 sampled)."""
    activated(host, tree(40))
    switched_unactivated(host, tree(40, **{"http.conf": "y\n"}))
    new = tree(41, **{"http.conf": "y\n"})  # the map alone differs from what config_dir points at
    outcome = push_and_probe(LocalTransport(), host["target"], new, frontend=frontend())
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert logged_commands(host)[-2:] == ["configtest", "reload"]
    assert probed(outcome) == 1 + 20  # the new name and the full sample: not the map-only sample of 5


def test_the_same_tree_switched_in_but_never_activated_is_probed_as_the_release_reloads_it(host, probing):
    """The old probe rule called the host unchanged (its MANIFEST is the new one) and probed nothing, while
    the release configtested and reloaded it. One plan: a config change, probed."""
    activated(host, tree(40))
    same = tree(40, **{"http.conf": "y\n"})
    switched_unactivated(host, same)
    outcome = push_and_probe(LocalTransport(), host["target"], same, frontend=frontend())
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, ChangeKind.CONFIG)
    assert logged_commands(host)[-2:] == ["configtest", "reload"]
    assert probed(outcome) == 20


def test_the_probes_and_the_release_share_one_read_of_the_host(host, probing, monkeypatch):
    activated(host, tree(40))
    reads, samples = [], []
    real_read, real_plan_probes = plan_module.read_plan, probes_module.plan_probes

    def counted(*args, **kwargs):
        made = real_read(*args, **kwargs)
        reads.append(made)
        return made

    def sampled(live, new, *, sample, seed=""):
        samples.append(sample)
        return real_plan_probes(live, new, sample=sample, seed=seed)

    monkeypatch.setattr(probes_module, "read_plan", counted)
    monkeypatch.setattr(release_module, "read_plan", counted)
    monkeypatch.setattr(probes_module, "plan_probes", sampled)
    outcome = push_and_probe(LocalTransport(), host["target"], tree(41), frontend=frontend())
    assert len(reads) == 1 and reads[0].change == outcome.change == ChangeKind.MAP
    assert samples == [5] and probed(outcome) == 1 + 5


def test_only_the_plan_decides_what_kind_of_change_a_release_is():
    """No other deploy module compares MANIFESTs or calls the map-only test itself."""
    for path in sorted((ROOT / "deploy").rglob("*.py")):
        if path.name == "plan.py":
            continue
        names = {
            node.id if isinstance(node, ast.Name) else node.attr
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Name | ast.Attribute)
        }
        assert not names & {"is_map_only", "change_kind", "changed_paths", "read_activated"}, path


# --- the rule -----------------------------------------------------------------------------------------------


TARGET = Target(name="fe1", config_dir="/etc/hostpanel", configtest_command="true", reload_command="true")


def release_of(files: dict[str, str]) -> str:
    return f"/etc/hostpanel.releases/{tree_digest(files)}"


@pytest.mark.parametrize(
    ("activated_tree", "link_tree", "expected"),
    [
        ("old", "old", ChangeKind.MAP),  # Apache runs the activated release; the map alone differs
        ("new", "new", ChangeKind.NONE),  # activated and pointed at: unchanged
        (None, "old", ChangeKind.CONFIG),  # no marker (or "switching"): what Apache runs is unknown
        ("old", "other", ChangeKind.CONFIG),  # config_dir points elsewhere than the activated release
        ("other", "new", ChangeKind.CONFIG),  # the new tree switched in but never activated
        ("other", "other", ChangeKind.CONFIG),  # another file differs
        ("old", None, ChangeKind.CONFIG),  # config_dir is not a symlink
    ],
)
def test_change_of(activated_tree, link_tree, expected):
    trees = {"old": tree(3), "new": tree(4), "other": tree(3, **{"http.conf": "y\n"})}
    new = trees["new"]
    digest = tree_digest(trees[activated_tree]) if activated_tree else ""
    link = release_of(trees[link_tree]) if link_tree else None
    live = trees[link_tree][MANIFEST].encode() if link_tree else None
    assert change_of(TARGET, new, digest, link, live) == expected


def test_change_of_a_relative_link_and_an_unreadable_manifest():
    old, new = tree(3), tree(4)
    relative = f"hostpanel.releases/{tree_digest(old)}"
    assert change_of(TARGET, new, tree_digest(old), relative, old[MANIFEST].encode()) == ChangeKind.MAP
    assert change_of(TARGET, new, tree_digest(old), relative, b"not a manifest") == ChangeKind.CONFIG
    assert change_of(TARGET, new, tree_digest(old), relative, None) == ChangeKind.CONFIG


# --- the read -----------------------------------------------------------------------------------------------


class Counting(LocalTransport):
    """The local transport, counting each operation (each is at least one SSH round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if callable(attribute) and not name.startswith("_") and name not in ("close", "calls"):
            super().__getattribute__("calls")[name] += 1
        return attribute


def test_the_plan_reads_the_marker_the_link_and_the_manifest_once(host):
    old = tree(30)
    activated(host, old)
    transport = Counting()
    made = read_plan(transport, host["target"], tree(31), routes=True, known=tree(29))  # not the live tree
    assert made.change == ChangeKind.MAP and made.serves_activated and made.activated == tree_digest(old)
    assert made.live_tree is None and made.live_manifest == old[MANIFEST].encode()  # read back
    # the marker, the MANIFEST, routes.map and routes-recent.map (absent); the link
    assert transport.calls == Counter({"read_file": 4, "readlink": 1})


def test_the_live_manifest_is_not_read_back_when_its_digest_on_the_host_is_the_known_trees(host):
    old = tree(30)
    activated(host, old)
    transport = Counting()
    made = read_plan(transport, host["target"], tree(31), routes=True, known=old)
    assert made.change == ChangeKind.MAP and made.serves_activated and made.live_tree is old
    assert made.live_map == {ROUTES_MAP: old[ROUTES_MAP]}  # from the known tree
    # the marker, the sha256 of the MANIFEST taken on the host, the link: nothing else crosses the wire
    assert transport.calls == Counter({"read_file": 1, "file_digest": 1, "readlink": 1})
    assert made.live_manifest == old[MANIFEST].encode()


def test_a_live_manifest_edited_on_the_host_is_read_back_and_compared_as_it_is(host):
    old = tree(30)
    activated(host, old)
    live = host["dir"] / MANIFEST
    edited = live.read_text().replace(f"  {ROUTES_MAP}", "  routes-elsewhere.map")
    live.unlink()
    live.write_text(edited)  # drift: the host's MANIFEST is no longer the one the panel pushed
    transport = Counting()
    made = read_plan(transport, host["target"], tree(31), routes=True, known=old)
    assert made.live_tree is None and made.live_manifest == edited.encode()
    assert made.change == ChangeKind.CONFIG  # what it lists differs beyond the map: configtest and reload


def test_the_plan_reads_the_map_back_when_the_known_tree_is_not_the_live_one(host):
    old = tree(30)
    activated(host, old)
    transport = Counting()
    made = read_plan(transport, host["target"], tree(31), routes=True, known=tree(29))
    assert made.live_map == {ROUTES_MAP: old[ROUTES_MAP]} and transport.calls["read_file"] == 2 + 2  # + the maps
    assert "file_digest" not in transport.calls  # no known tree has the activated digest: nothing to hash


def test_an_unchanged_host_is_planned_without_its_map(host):
    same = tree(30)
    activated(host, same)
    made = read_plan(LocalTransport(), host["target"], same, routes=True)
    assert made.unchanged and made.live_map is None


def test_a_first_deploy_plans_a_config_change_with_no_live_map(host):
    made = read_plan(LocalTransport(), host["target"], tree(3), routes=True)
    assert (made.change, made.activated, made.link, made.live_map) == (ChangeKind.CONFIG, "", None, None)


def test_a_failed_read_of_the_host_leaves_it_untouched(host, probing):
    class Unreachable(LocalTransport):
        def read_file(self, path):
            raise TransportError("connection dropped", retryable=True)

    outcome = push_and_probe(Unreachable(), host["target"], tree(3), frontend=frontend())
    assert (outcome.status, outcome.retryable, outcome.touched) == (HostStatus.FAILED, True, False)
    assert outcome.error == "connection dropped (stage: connect); the live config was not touched."
    assert not host["dir"].exists()


def test_a_map_only_deploy_costs_fewer_round_trips(host, probing):
    """What a map-only deploy asks of the host (the numbers of the change's note)."""
    old = tree(30)
    activated(host, old)
    transport = Counting()
    outcome = push_and_probe(transport, host["target"], tree(31), frontend=frontend(), known=old)
    assert outcome.change == ChangeKind.MAP
    print(f"\nround trips of a map-only deploy: {sum(transport.calls.values())} {dict(transport.calls)}")
    assert transport.calls["readlink"] == 1  # the plan's; the release's compare and swap read no link again
