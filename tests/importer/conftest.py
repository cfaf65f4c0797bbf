"""Fixtures for the importer's tests: the seed fixture trees and config trees written on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest

from balancers import services as balancer_services
from deploy.transport.pool import POOL
from devrig.fleet import make_client_key
from devrig.sshd import SshServer
from importer.reader import MappingSource, read_config
from importer.recognise import Recognition, recognise
from tests.factories import ACTOR
from tests.realparts import require_binary
from tests.samples import FIXTURES as SAMPLE_FIXTURES

FIXTURES = SAMPLE_FIXTURES / "importer"


@pytest.fixture
def seed22() -> Path:
    return FIXTURES / "seed-2.2"


@pytest.fixture
def seed24() -> Path:
    return FIXTURES / "seed-2.4"


@pytest.fixture
def tree(tmp_path: Path):
    """tree({"apache2.conf": "...", ...}) writes a config tree under tmp_path/etc and returns its root."""

    def write(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "etc"
        for path, data in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
        root.mkdir(exist_ok=True)
        return root

    return write


@pytest.fixture
def recognised():
    """recognised(main_text, **other_files) -> the Recognition of that config (read from a mapping)."""

    def run(main: str, **files: str) -> Recognition:
        mapping = {"apache2.conf": main.encode()} | {
            path.replace("__", "/"): text.encode() for path, text in files.items()
        }
        return recognise(read_config(MappingSource(mapping)))

    return run


@pytest.fixture
def ssh_frontend(db, tmp_path, settings):
    """make(configtest_command="true") -> a FrontEnd reached over a real sshd on loopback (this machine's
    files are the front-end's: put the config tree anywhere under tmp_path and pass its path as root)."""
    require_binary("sshd")
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    sshd = SshServer(tmp_path / "sshd", client_key=key).start()

    def make(configtest_command: str = "true", name: str = "fe1"):
        return balancer_services.frontend_create(
            actor=ACTOR,
            name=name,
            address="127.0.0.1",
            transport="ssh",
            ssh_port=sshd.port,
            ssh_user=sshd.user,
            ssh_host_key=sshd.host_key,
            configtest_command=configtest_command,
        )

    try:
        yield make
    finally:
        POOL.close_all()
        sshd.stop()
