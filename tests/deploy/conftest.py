"""Fixtures for the deploy tests (the two-host `farm` comes from tests/harness/fixtures.py)."""

from __future__ import annotations

import pytest

from tests.factories import make_tree


@pytest.fixture
def tree_maker():
    return make_tree
