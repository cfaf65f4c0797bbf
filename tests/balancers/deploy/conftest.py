"""Fixtures for the deploy tests."""

from __future__ import annotations

import pytest

from tests.factories import make_tree
from tests.harness.farm import running_farm


@pytest.fixture
def tree_maker():
    return make_tree


@pytest.fixture
def farm(transactional_db, tmp_path, settings, apache_factory, backend_factory):
    with running_farm(tmp_path, settings, apache_factory, backend_factory) as farm:
        yield farm
