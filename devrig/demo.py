"""A local demo front-end, so that a new user sees a deploy go live on one machine.

A standalone Apache (devrig.apache) under var/demo-frontend on 127.0.0.1 ports (its own pid,
logs, runtime dir), whose main config includes var/demo-frontend/hostpanel/hostpanel.conf; a FrontEnd
"demo" with the local transport deploys there. `DemoBackends` runs the fake Zope servers
(devrig.backends) on the demo Zope servers' ports (18101-18103 by seed_demo) and Node.js frontend
stand-ins on the demo Node servers' ports (18104-18105 by `seed_demo --volto`) so requests through
the demo Apache reach something real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from balancers import services as balancer_services
from balancers.choices import ServerKind
from balancers.models import FrontEnd, ZopeServer
from devrig import apache, pki
from devrig.backends import Backend
from devrig.node import NodeFrontend
from hostpanel.audit import Actor

DEMO_NAME = "demo"
DEFAULT_HTTP_PORT = 18080
DEFAULT_MANAGER_PORT = 18090
DEFAULT_HTTPS_PORT = 18443
HTTPS_SITE = "secure.linux.co.uk"  # the demo's HTTPS site: a certificate from the demo's own CA (demo_pki)
DEFAULT_NODE_PORT_BASE = 18110
INSTALL_HINT = (
    "apache2 is not installed, so there is no local demo front-end. The panel works without it; to see a "
    "deploy go live, install Apache (Debian/Ubuntu: sudo apt-get install apache2) and run this again."
)


class DemoError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoPaths:
    workdir: Path
    config_dir: Path
    conf: Path
    pid_file: Path
    error_log: Path

    @classmethod
    def default(cls, var_dir: Path | None = None) -> DemoPaths:
        workdir = Path(var_dir or settings.VAR_DIR) / "demo-frontend"
        return cls(
            workdir=workdir,
            config_dir=workdir / "hostpanel",
            conf=workdir / "httpd.conf",
            pid_file=workdir / "httpd.pid",
            error_log=workdir / "error.log",
        )


def _apache(paths: DemoPaths, binary: str, *, http_port: int = 0, manager_port: int | None = None, https_port: int = 0):
    listen = [f"127.0.0.1:{http_port}"] if http_port else []
    if http_port and https_port:
        listen.append(f"127.0.0.1:{https_port} https")
    return apache.StandaloneApache(
        paths.workdir,
        paths.config_dir,
        listen=listen,
        manager_port=manager_port,
        binary=binary,
    )


def is_running(paths: DemoPaths) -> bool:
    binary = apache.apache_binary()
    return bool(binary) and _apache(paths, binary).running


def write_config(
    paths: DemoPaths, *, binary: str, http_port: int, manager_port: int, https_port: int = DEFAULT_HTTPS_PORT
) -> apache.StandaloneApache:
    demo_apache = _apache(
        paths, binary, http_port=http_port, manager_port=manager_port, https_port=https_port
    ).write_config()
    if not paths.config_dir.is_symlink() and not paths.config_dir.exists():
        # Before the first deploy: an empty release, so that Apache can start and include it.
        initial = Path(f"{paths.config_dir}.releases") / "initial"
        initial.mkdir(parents=True, exist_ok=True)
        (initial / "hostpanel.conf").write_text("# Nothing deployed yet: HostPanel's first deploy replaces this.\n")
        paths.config_dir.symlink_to(initial)
    return demo_apache


def ensure_frontend(
    paths: DemoPaths,
    *,
    binary: str,
    http_port: int,
    manager_port: int,
    actor: Actor,
    https_port: int = DEFAULT_HTTPS_PORT,
) -> FrontEnd:
    """Create or update the FrontEnd "demo" (local transport) pointing at this Apache."""
    fields = {
        "https_listen": f"127.0.0.1:{https_port}",
        "address": "127.0.0.1",
        "transport": "local",
        "config_dir": str(paths.config_dir),
        "configtest_command": f"{binary} -t -f {paths.conf}",
        "reload_command": f"{binary} -k graceful -f {paths.conf}",
        "http_listen": f"127.0.0.1:{http_port}",
        "balancer_manager_url": f"http://127.0.0.1:{manager_port}/balancer-manager",
        "node_port_base": DEFAULT_NODE_PORT_BASE,
        "description": "Local demo Apache under var/demo-frontend",
    }
    frontend = FrontEnd.objects.filter(name=DEMO_NAME).first()
    if frontend is None:
        return balancer_services.frontend_create(actor=actor, name=DEMO_NAME, **fields)
    changed = {k: v for k, v in fields.items() if getattr(frontend, k) != v}
    if changed:
        return balancer_services.frontend_update(frontend, actor=actor, **changed)
    return frontend


def start(
    *,
    http_port: int = DEFAULT_HTTP_PORT,
    manager_port: int = DEFAULT_MANAGER_PORT,
    https_port: int = DEFAULT_HTTPS_PORT,
    actor: Actor | None = None,
    paths: DemoPaths | None = None,
) -> tuple[DemoPaths, FrontEnd] | None:
    """Write the config, register the front-end and start Apache (idempotent). None without apache2."""
    binary = apache.apache_binary()
    if not binary:
        return None
    paths = paths or DemoPaths.default()
    actor = actor or Actor.command("demo_frontend")
    demo_apache = write_config(
        paths, binary=binary, http_port=http_port, manager_port=manager_port, https_port=https_port
    )
    frontend = ensure_frontend(
        paths, binary=binary, http_port=http_port, manager_port=manager_port, actor=actor, https_port=https_port
    )
    if not demo_apache.running:
        # Apache's children run as www-data when we are root: they must reach every later release too.
        apache.grant_traverse(Path(f"{paths.config_dir}.releases"))
        try:
            demo_apache.start(timeout=15)
        except apache.ApacheError as exc:
            raise DemoError(f"the demo Apache did not start: {exc}") from exc
    return paths, frontend


def stop(paths: DemoPaths | None = None, timeout: float = 15) -> bool:
    """Stop the demo Apache; True if it was running."""
    paths = paths or DemoPaths.default()
    binary = apache.apache_binary()
    return bool(binary) and _apache(paths, binary).stop(timeout=timeout)


def restart_dir(var_dir: Path | None = None) -> Path:
    """Where the demo's restart commands and the stand-ins' watcher meet (var/demo-restarts)."""
    return Path(var_dir or settings.VAR_DIR) / "demo-restarts"


def restart_command(name: str, var_dir: Path | None = None) -> str:
    """The demo Zope server's restart command (run with the local transport): asks the `demo_frontend backends`
    process to stop and start its stand-in, and waits (bounded) until it has, like `bin/instance restart`."""
    directory = restart_dir(var_dir)
    requested, done = directory / f"{name}.requested", directory / f"{name}.done"
    return (
        f"rm -f {done} && touch {requested} && i=0 && "
        f"while [ ! -e {done} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done && "
        f"test -e {done} && echo restarted {name}"
    )


class DemoBackends:
    """Fake Zope servers (devrig.backends, HTML pages) on the demo Zope servers' 127.0.0.1 ports, and
    Node.js frontend stand-ins (devrig.node: GET /ok answers ok) for servers of kind node; a port already
    taken is skipped, with the reason. While they run, a watcher restarts a stand-in (stop, `down_seconds`,
    start) whenever its restart command (restart_command) asks for it."""

    def __init__(self, servers: Iterable[tuple[str, int] | tuple[str, int, str]], *, down_seconds: float = 1.0) -> None:
        self.backends = [
            NodeFrontend(name, port) if kind == [ServerKind.NODE] else Backend(name, port, page="html")
            for name, port, *kind in servers
        ]
        self.started: list[Backend] = []
        self.skipped: list[tuple[str, int, str]] = []
        self.restarts: dict[str, int] = {}
        self.down_seconds = down_seconds
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, var_dir: Path | None = None) -> DemoBackends:
        for backend in self.backends:
            try:
                self.started.append(backend.start())
            except OSError as exc:
                self.skipped.append((backend.name, backend.port, exc.strerror or str(exc)))
        directory = restart_dir(var_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self._watcher = threading.Thread(target=self._watch, args=(directory,), daemon=True, name="demo-restarts")
        self._watcher.start()
        return self

    def _watch(self, directory: Path) -> None:
        while not self._stop.wait(0.05):
            for backend in self.started:
                requested = directory / f"{backend.name}.requested"
                if not requested.exists():
                    continue
                requested.unlink(missing_ok=True)
                backend.stop()
                time.sleep(self.down_seconds)
                backend.start()
                self.restarts[backend.name] = self.restarts.get(backend.name, 0) + 1
                (directory / f"{backend.name}.done").touch()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(2)
        for backend in self.started:
            backend.stop()


def demo_backend_list() -> list[tuple[str, int, str]]:
    """(name, port, kind) of the application servers on 127.0.0.1 in the database (seed_demo puts the Zope
    servers on 18101-18103, `seed_demo --volto` the Node.js frontend servers on 18104-18105)."""
    return list(ZopeServer.objects.filter(host="127.0.0.1").order_by("name").values_list("name", "port", "kind"))


def demo_pki_dir(var_dir: Path | None = None) -> Path:
    return Path(var_dir or settings.VAR_DIR) / "demo-pki"


def demo_certificate(names: list[str], var_dir: Path | None = None) -> dict[str, str]:
    """A certificate for `names` from a fresh local CA (devrig.pki: a root and an intermediate), the root written
    to var/demo-pki/roots.pem: what HOSTPANEL_CUSTOM_CA_BUNDLE names in the demo (bin/run), and what a client
    trusts to check the demo's HTTPS site (curl --cacert var/demo-pki/roots.pem)."""
    directory = demo_pki_dir(var_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return pki.TrustedPKI.create(directory, cn="HostPanel demo CA").issue(names)
