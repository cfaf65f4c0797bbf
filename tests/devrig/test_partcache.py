"""The parts cache (devrig.partcache): a part is built once per machine, by one process at a time, and a
build that died is built again; a part not built is a MissingPart that says how to build it."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from devrig import partcache
from devrig.parts import MissingPart


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOSTPANEL_PARTS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _slow_build(target: Path) -> None:
    with open(target.parent / "builds.log", "a") as log:
        log.write("built\n")
    time.sleep(0.5)
    (target / "thing").write_text("made")


def _build_in_a_process(_: int) -> str:
    return str(partcache.build_once("slow", _slow_build))


def test_the_cache_is_outside_the_repository_by_default(monkeypatch):
    monkeypatch.delenv("HOSTPANEL_PARTS_CACHE")
    assert partcache.cache_root() == Path.home() / ".cache" / "hostpanel"


def test_a_part_is_built_once_and_reused(cache):
    calls = []
    first = partcache.build_once("thing", lambda target: calls.append(target) or (target / "x").write_text("1"))
    again = partcache.build_once("thing", lambda target: calls.append(target))
    assert first == again == cache / "thing"
    assert len(calls) == 1
    assert (first / "x").read_text() == "1"


def test_parallel_workers_wait_for_one_build(cache):
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        paths = pool.map(_build_in_a_process, range(3))
    assert set(paths) == {str(cache / "slow")}
    assert (cache / "builds.log").read_text() == "built\n"


def test_a_build_that_failed_leaves_nothing_and_is_built_again(cache):
    def broken(target: Path) -> None:
        (target / "half").write_text("half")
        raise RuntimeError("npm died")

    with pytest.raises(RuntimeError, match="npm died"):
        partcache.build_once("thing", broken)
    assert not (cache / "thing").exists()
    assert not partcache.is_built("thing")
    partcache.build_once("thing", lambda target: (target / "whole").write_text("ok"))
    assert sorted(p.name for p in (cache / "thing").iterdir()) == [partcache.MARKER, "whole"]


def test_a_part_without_its_marker_is_missing_and_says_how_to_build_it(cache):
    (cache / "thing").mkdir(parents=True)  # a build that was killed before it finished
    with pytest.raises(MissingPart, match="python -m devrig.thing build"):
        partcache.require_built("thing", "python -m devrig.thing build")
