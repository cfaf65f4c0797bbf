"""The machine's cache of built real parts (Plone's virtualenv and its site databases, Volto's production build):
outside the repository, so it survives fresh clones and CI runs on the same machine, each part built once and
reused after.

    root = cache_root()                     # $HOSTPANEL_PARTS_CACHE, or ~/.cache/hostpanel
    path = build_once("plone-6.2.2-...", build)   # build(path) runs only when the part is missing
    path = require_built("plone-6.2.2-...", "python -m devrig.plone build")   # MissingPart when not built

A part is complete when its marker file exists (written last); a part without one is a build that died and is
built again. An exclusive lock per part (flock) makes parallel pytest workers and CI steps wait for one build.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devrig.parts import MissingPart

MARKER = ".hostpanel-built"


def cache_root() -> Path:
    """Where built parts live: HOSTPANEL_PARTS_CACHE, or ~/.cache/hostpanel."""
    configured = os.environ.get("HOSTPANEL_PARTS_CACHE", "").strip()
    return Path(configured) if configured else Path.home() / ".cache" / "hostpanel"


def is_built(name: str) -> bool:
    return (cache_root() / name / MARKER).exists()


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the part's exclusive lock (another process building it makes this wait)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(name: str, build: Callable[[Path], None]) -> Path:
    """The part's directory, built by build(directory) first when it is not there (once, under the lock)."""
    target = cache_root() / name
    if (target / MARKER).exists():
        return target
    with locked(name):
        if (target / MARKER).exists():  # another process built it while this one waited
            return target
        if target.exists():
            shutil.rmtree(target)  # a build that died half-way
        target.mkdir(parents=True)
        started = time.monotonic()
        try:
            build(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        (target / MARKER).write_text(f"built in {time.monotonic() - started:.0f} s\n")
    return target


def require_built(name: str, how: str) -> Path:
    """The built part's directory; MissingPart (a skip locally, a failure in CI) saying how to build it."""
    target = cache_root() / name
    if not (target / MARKER).exists():
        raise MissingPart(f"{name} is not built in {cache_root()} ({how})")
    return target
