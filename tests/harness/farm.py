"""Two real front-end hosts for the deploy and HTTPS tests (the `farm` fixture): each its own sshd and
standalone Apache (whose main config includes that host's config_dir/hostpanel.conf), behind fake Zope
backends (devrig.backends).

Each Apache listens for the site vhosts on an HTTP and an HTTPS port (mod_ssl loaded, FrontEnd.https_listen).
The front-ends' configtest/reload commands are the test Apache's own `apache2 -t -f <conf>` and
`apache2 -k graceful -f <conf>`, run through SSH on loopback.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd
from deploy.transport.pool import POOL
from devrig.apache import StandaloneApache
from devrig.net import free_port_block, free_ports, http_get
from rendering.routes import DERIVED_FILES
from sites import services as site_services
from tests.factories import ACTOR
from tests.harness.sshd import SshServer, generate_key
from tests.realparts import require_binary


@dataclass
class Host:
    name: str
    sshd: SshServer
    apache: StandaloneApache
    config_dir: Path
    http_port: int
    https_port: int

    @property
    def frontend(self) -> FrontEnd:
        return FrontEnd.objects.get(name=self.name)

    def live_target(self) -> str:
        return os.readlink(self.config_dir)

    def live_files(self) -> dict[str, str]:
        root = self.config_dir.resolve()
        return {
            str(p.relative_to(root)): p.read_text()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in DERIVED_FILES
        }

    def reloads(self) -> int:
        """How many times Apache started a new generation (start + every graceful)."""
        return self.apache.generations()

    def get(self, domain: str, path: str = "/") -> tuple[int, dict, str]:
        answer = http_get(self.http_port, path, host=domain)
        return answer.status, answer.headers, answer.body

    def backend_for(self, domain: str, *, timeout: float = 5.0) -> dict | None:
        """The backend's JSON answer for a request to domain through this Apache, waiting (bounded)
        for a graceful reload to take effect; None if the site never reaches a backend."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, headers, body = self.get(domain)
            except OSError:  # a restarting Apache may refuse or reset for a moment
                status, headers, body = 0, {}, ""
            if status == 200 and "X-Backend" in headers:
                return json.loads(body)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def make_host(base: Path, name: str, client_key: Path, apache_factory) -> Host:
    sshd = SshServer(base / "sshd", client_key=client_key)
    config_dir = base / "etc" / "hostpanel"
    http_port, https_port = free_ports(2)
    apache = apache_factory(
        config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"], manager=True
    )
    # The admin's one-time setup: config_dir exists (here an empty release) so Apache can start.
    initial = Path(f"{config_dir}.releases") / "initial"
    initial.mkdir(parents=True)
    (initial / "hostpanel.conf").write_text("# nothing deployed yet\n")
    config_dir.symlink_to(initial)
    sshd.start()
    apache.start()
    balancer_services.frontend_create(
        actor=ACTOR,
        name=name,
        address="127.0.0.1",
        transport="ssh",
        ssh_port=sshd.port,
        ssh_user=sshd.user,
        ssh_host_key=sshd.host_key,
        config_dir=str(config_dir),
        configtest_command=f"{apache.binary} -t -f {apache.conf}",
        reload_command=f"{apache.binary} -k graceful -f {apache.conf}",
        balancer_manager_url=apache.manager_url,
        http_listen=f"127.0.0.1:{http_port}",
        https_listen=f"127.0.0.1:{https_port}",
        # node vhosts listen on node_port_base + index of each Zope server: a block that is free NOW (this
        # Apache holds its own ports already), not one port whose neighbours may be this host's https port
        node_port_base=free_port_block(8),
    )
    return Host(name, sshd, apache, config_dir, http_port, https_port)


def make_client_key(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    key = base / "panel_key"
    if not key.exists():
        generate_key(key, "hostpanel-panel")
    return key


def make_balancer(backends) -> Balancer:
    servers = [
        balancer_services.zope_server_create(actor=ACTOR, name=b.name, host="127.0.0.1", port=b.port) for b in backends
    ]
    balancer = balancer_services.balancer_create(actor=ACTOR, name="bronze")
    for server in servers:
        balancer_services.member_create(actor=ACTOR, balancer=balancer, zope_server=server, retry=0)
    return balancer


def add_site(domain: str, balancer: Balancer, plone_path: str | None = None):
    return site_services.site_create(
        actor=ACTOR, domain=domain, balancer=balancer, plone_path=plone_path or f"/plone/{domain.split('.')[0]}"
    )


@dataclass
class Farm:
    fe1: Host
    fe2: Host
    balancer: Balancer
    backends: list

    @property
    def hosts(self) -> list[Host]:
        return [self.fe1, self.fe2]


@contextmanager
def running_farm(base: Path, settings, apache_factory, backend_factory) -> Iterator[Farm]:
    """Two real front-ends fe1 and fe2 (sshd + Apache) and balancer bronze over two fake Zope backends
    (zope1, zope2), with the panel's SSH key in `settings`; every sshd stopped and the SSH pool closed after."""
    require_binary("sshd")
    require_binary("apache2")
    key = make_client_key(base / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    backends = [backend_factory("zope1"), backend_factory("zope2")]
    balancer = make_balancer(backends)
    hosts = []
    try:
        for name in ("fe1", "fe2"):
            hosts.append(make_host(base / name, name, key, apache_factory))
        yield Farm(hosts[0], hosts[1], balancer, backends)
    finally:
        POOL.close_all()
        for host in hosts:
            host.sshd.stop()


@pytest.fixture
def farm(transactional_db, tmp_path, settings, apache_factory, backend_factory):
    """Two front-ends fe1, fe2 (real sshd + Apache with mod_ssl, HTTP and HTTPS ports) over two fake
    Zope backends, balancer bronze (running_farm). Loaded by `pytest_plugins` in tests/conftest.py."""
    with running_farm(tmp_path, settings, apache_factory, backend_factory) as farm:
        yield farm
