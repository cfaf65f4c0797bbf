"""A small real fleet for the operations and alerts tests: front-ends (standalone Apaches with a
balancer-manager, deployed to with the local transport by the real deploy runner) in front of two
Plone-like fake Zope backends, and a Zope host (a real sshd on loopback) whose restart command
restarts a backend — stop, then start on the same port — the way `bin/instance restart` would.

    fleet = make_fleet(tmp_path, apache_factory, backend_factory, frontends=2)
    fleet.deploy()                                   # the real runner: render, push, configtest, graceful
    fleet.get("fe1", "linux.co.uk", cookie="BALANCEID=balancer.zope1")  # -> (status, backend, headers, body)
    fleet.enable_restarts(sshd)                      # ZopeServerOps with a restart command for every server
    fleet.restarts["zope1"]                          # how many times the Zope host restarted zope1

The restart command (a small script) touches `<dir>/<route>.requested` and waits for `<dir>/<route>.done`; a watcher
thread in the test process sees the request, stops the backend, waits `down_seconds`, starts it again
and writes the done file, so the command returns once the server is back (as systemctl restart does).
Everything started here is stopped by `stop()`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus
from balancers.models import Balancer, FrontEnd
from balancers.services import deployment_start
from deploy.runner import deployment_execute
from devrig.backends import Backend
from devrig.net import free_port, http_get
from operations.services import zope_server_ops_update
from sites import services as site_services
from tests.factories import ACTOR


@dataclass
class FleetHost:
    name: str
    apache: object
    http_port: int


@dataclass
class Fleet:
    base: Path
    balancer: Balancer
    backends: dict[str, Backend]
    hosts: dict[str, FleetHost]
    down_seconds: float = 0.5
    restarts: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _watchers: list[threading.Thread] = field(default_factory=list)

    def deploy(self):
        deployment = deployment_start(actor=ACTOR, enqueue=False)
        deployment = deployment_execute(deployment.pk)
        assert deployment.status in {DeploymentStatus.SUCCEEDED, DeploymentStatus.REVERTED}, [
            (h.frontend_name, h.stage, h.error) for h in deployment.hosts.all()
        ]
        for host in self.hosts.values():
            host.apache.wait_until_answering()
        return deployment

    def get(self, frontend: str, domain: str, path: str = "/", *, cookie: str | None = None):
        """(status, backend name, headers, JSON answer or {}) of one request through a front-end."""
        answer = http_get(self.hosts[frontend].http_port, path, host=domain, cookie=cookie, timeout=10)
        try:
            data = json.loads(answer.body) if answer.headers.get("X-Backend") else {}
        except ValueError:
            data = {}
        return answer.status, answer.headers.get("X-Backend", ""), answer.headers, data

    def enable_restarts(self, sshd, *, health_path: str = "/@@ok") -> None:
        """A restart command on every Zope server, run on `sshd` (the Zope host), and the watchers."""
        signals = self.base / "restart-signals"
        signals.mkdir(exist_ok=True)
        for route, backend in self.backends.items():
            self.restarts[route] = 0
            requested, done = signals / f"{route}.requested", signals / f"{route}.done"
            script = signals / f"restart-{route}.sh"  # what `bin/instance restart` would be on a Zope host
            script.write_text(
                f"rm -f {done}; touch {requested}; i=0\n"
                f"while [ ! -e {done} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
                f"test -e {done} && echo restarted {route}\n"
            )
            command = f"sh {script}"
            zope_server_ops_update(
                backend.zope_server,
                actor=ACTOR,
                allow_commands=True,
                restart_command=command,
                ssh_address="127.0.0.1",
                ssh_port=sshd.port,
                ssh_user=sshd.user,
                ssh_host_key=sshd.host_key,
                health_path=health_path,
            )
            watcher = threading.Thread(target=self._watch, args=(route, requested, done), daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _watch(self, route: str, requested: Path, done: Path) -> None:
        while not self._stop.is_set():
            if requested.exists():
                requested.unlink()
                backend = self.backends[route]
                backend.stop()
                time.sleep(self.down_seconds)
                backend.start()
                self.restarts[route] += 1
                done.touch()
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for watcher in self._watchers:
            watcher.join(2)


def make_fleet(
    base: Path, apache_factory, backend_factory, *, frontends: int = 2, sites: tuple[str, ...] = ("linux.co.uk",)
) -> Fleet:
    backends = {name: backend_factory(name) for name in ("zope1", "zope2")}
    balancer = balancer_services.balancer_create(actor=ACTOR, name="bronze")
    for name, backend in backends.items():
        server = balancer_services.zope_server_create(actor=ACTOR, name=name, host="127.0.0.1", port=backend.port)
        balancer_services.member_create(actor=ACTOR, balancer=balancer, zope_server=server, retry=1)
        backend.zope_server = server
    for domain in sites:
        site_services.site_create(
            actor=ACTOR, domain=domain, balancer=balancer, plone_path=f"/plone/{domain.split('.')[0]}"
        )
    hosts = {}
    for index in range(1, frontends + 1):
        name = f"fe{index}"
        http_port = free_port()
        config_dir = base / name / "hostpanel"
        # the admin's one-time setup (README "Roles and power"): a release of their own that Apache can start
        # with, config_dir a symlink to it (a plain directory of files HostPanel did not write is refused)
        initial = base / name / "hostpanel.releases" / "initial"
        initial.mkdir(parents=True)
        (initial / "hostpanel.conf").write_text("# nothing deployed yet\n")
        config_dir.symlink_to(initial)
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}"], manager=True)
        apache.start()
        balancer_services.frontend_create(
            actor=ACTOR,
            name=name,
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            configtest_command=f"{apache.binary} -t -f {apache.conf}",
            reload_command=f"{apache.binary} -k graceful -f {apache.conf}",
            balancer_manager_url=apache.manager_url,
            http_listen=f"127.0.0.1:{http_port}",
        )
        hosts[name] = FleetHost(name, apache, http_port)
    fleet = Fleet(base, balancer, backends, hosts)
    assert FrontEnd.objects.count() == frontends
    return fleet
