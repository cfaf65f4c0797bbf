"""Paths and captured samples shared by the tests: the repository root, golden trees, real
balancer-manager answers (captured from Apache 2.4.71 by devrig/capture.py) and hostile XML."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden"

MANAGER_XML = (FIXTURES / "balancer-manager-2.4.71.xml").read_bytes()
MANAGER_HTML = (FIXTURES / "balancer-manager-2.4.71.html").read_bytes()
MANAGER_NO_REFERER_HTML = (FIXTURES / "balancer-manager-2.4.71-no-referer.html").read_bytes()
# Apache 2.4.71 with mod_proxy_hcheck (devrig: StandaloneApache, two Backends checked every second), zope2 stopped
MANAGER_HCHECK_XML = (FIXTURES / "balancer-manager-2.4.71-hcheck.xml").read_bytes()
MANAGER_HCHECK_HTML = (FIXTURES / "balancer-manager-2.4.71-hcheck.html").read_bytes()

# Hostile XML: an entity expansion bomb and an external entity (the parser must refuse both).
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<httpd:manager xmlns:httpd='http://httpd.apache.org'><httpd:balancers><httpd:balancer>
<httpd:name>balancer://&lol9;</httpd:name></httpd:balancer></httpd:balancers></httpd:manager>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<httpd:manager xmlns:httpd='http://httpd.apache.org'><httpd:balancers><httpd:balancer>
<httpd:name>&xxe;</httpd:name></httpd:balancer></httpd:balancers></httpd:manager>"""


# hostpanel.test_settings puts test values into this process's environment; a fresh process must not inherit them.
_TEST_ENV_PREFIXES = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "SECURE_",
    "SESSION_",
    "CSRF_",
    "HOSTPANEL_",
)


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_TEST_ENV_PREFIXES)}
    env.update(overrides, DJANGO_SETTINGS_MODULE="hostpanel.settings")
    return env


def tgz(files: dict[str, bytes], name: str = "etc-apache2.tgz") -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(f"apache2/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = name
    return buffer
