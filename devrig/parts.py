"""The real binaries the rig starts (apache2, sshd, pebble, chromium...), found or refused with the Debian
package to install. The tests turn MissingPart into a skip (locally) or a failure (CI): tests/realparts.py."""

from __future__ import annotations

import os
import shutil

PACKAGES = {
    "apache2": "apache2",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "pebble": "pebble",
    "pebble-challtestsrv": "pebble",
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "curl": "curl",
    "bwrap": "bubblewrap",
    "rotatelogs": "apache2-utils",  # the usage log's piped logger (traffic metering)
    "node": "nodejs",  # the Volto frontend (devrig/volto.py), Debian's Node 20
    "npm": "npm",
    "nginx": "nginx",  # the TLS edge (devrig/nginx.py, FrontEnd.tls_edge = "nginx")
}
PATHS = {
    "apache2": "/usr/sbin/apache2",
    "nginx": "/usr/sbin/nginx",
    "sshd": "/usr/sbin/sshd",
    "chromium": "/usr/bin/chromium",
}


class MissingPart(RuntimeError):
    """A real part the rig needs is not installed (the message names the package)."""


def find_binary(name: str) -> str:
    """Path of a real binary; MissingPart (with the package to install) when there is none."""
    known = PATHS.get(name)
    path = shutil.which(name) or (known if known and os.path.exists(known) else None)
    if not path:
        raise MissingPart(f"{name} is not installed (apt-get install -y {PACKAGES.get(name, name)})")
    return path
