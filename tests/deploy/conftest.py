"""Fixtures for the deploy tests."""

from __future__ import annotations

import pytest

from balancers.render import MANIFEST, manifest_text
from tests.harness.apache import apache_factory  # noqa: F401 - fixture
from tests.harness.backends import backend_factory  # noqa: F401 - fixture


def make_tree(files: dict[str, str]) -> dict[str, str]:
    """A small hand-made tree plus its MANIFEST, in the renderer's format (fast unit tests)."""
    return {**files, MANIFEST: manifest_text(files)}


@pytest.fixture
def tree_maker():
    return make_tree
