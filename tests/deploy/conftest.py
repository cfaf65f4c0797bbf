"""Fixtures for the deploy tests."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest

from tests.harness.apache import apache_factory  # noqa: F401 - fixture
from tests.harness.backends import backend_factory  # noqa: F401 - fixture


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_tree(files: dict[str, str]) -> dict[str, str]:
    """A stand-in rendered tree: the files plus a MANIFEST in the renderer's format."""
    from balancers.render import tree_digest  # noqa: F401 - make sure the module is importable

    manifest = "".join(f"{_sha(text)}  {path}\n" for path, text in sorted(files.items()))
    return {**files, "MANIFEST": manifest}


try:  # until the renderer lands on this branch, the deploy unit tests use a stand-in of its API
    import balancers.render  # noqa: F401
except ImportError:
    stand_in = types.ModuleType("balancers.render")
    stand_in.tree_digest = lambda tree: _sha(tree["MANIFEST"])
    stand_in.parse_manifest = lambda text: {
        line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in text.splitlines() if line.strip()
    }
    stand_in.render_tree = lambda snapshot, frontend: pytest.skip("the renderer has not landed yet")
    sys.modules["balancers.render"] = stand_in
try:
    import balancers.snapshot  # noqa: F401
except ImportError:
    snapshot_stand_in = types.ModuleType("balancers.snapshot")
    snapshot_stand_in.load_snapshot = lambda: None
    sys.modules["balancers.snapshot"] = snapshot_stand_in


@pytest.fixture
def tree_maker():
    return make_tree
