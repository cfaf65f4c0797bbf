"""Real external parts (apache2, sshd, chromium, pebble, PostgreSQL, Redis) for the tests.

Locally a missing part skips its tests with the exact package to install; in CI (CI=true) a
missing part FAILS, so a green CI always means every real-part test really ran. The binaries are found
by devrig.parts; a MissingPart raised inside the rig becomes the same skip or failure
(tests/harness/fixtures.py).
"""

from __future__ import annotations

import os

import pytest

from devrig.parts import MissingPart, find_binary

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"real part missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Path of a real binary, or skip (locally) / fail (CI) with the package to install."""
    try:
        return find_binary(name)
    except MissingPart as error:
        missing(str(error))
        raise  # not reached: missing() raises
