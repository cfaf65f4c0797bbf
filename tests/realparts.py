"""Real external parts (apache2, sshd, chromium, pebble, PostgreSQL, Redis) for the tests.

Locally a missing part skips its tests with the exact package to install; in CI (CI=true) a
missing part FAILS, so a green CI always means every real-part test really ran.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

PACKAGES = {
    "apache2": "apache2",
    "sshd": "openssh-server",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "pebble": "pebble",
    "pebble-challtestsrv": "pebble",
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "curl": "curl",
    "bwrap": "bubblewrap",
}
PATHS = {"apache2": "/usr/sbin/apache2", "sshd": "/usr/sbin/sshd", "chromium": "/usr/bin/chromium"}


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"real part missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Path of a real binary, or skip (locally) / fail (CI) with the package to install."""
    path = shutil.which(name) or (PATHS.get(name) if PATHS.get(name) and os.path.exists(PATHS[name]) else None)
    if not path:
        missing(f"{name} is not installed (apt-get install -y {PACKAGES.get(name, name)})")
    return path
