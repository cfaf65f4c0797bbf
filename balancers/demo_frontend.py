"""A local demo front-end, so that a new user sees a deploy go live on one machine.

A standalone Apache under var/demo-frontend on 127.0.0.1 ports (its own pid, logs, runtime dir),
whose main config includes var/demo-frontend/hostpanel/hostpanel.conf; a FrontEnd "demo" with the
local transport deploys there. `serve_backends()` answers on the demo Zope servers' ports
(18101-18103 by seed_demo) so requests through the demo Apache reach something real.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings

from balancers import apachectl
from balancers import services as balancer_services
from balancers.models import FrontEnd
from hostpanel.audit import Actor

DEMO_NAME = "demo"
DEFAULT_HTTP_PORT = 18080
DEFAULT_MANAGER_PORT = 18090
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


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid(paths: DemoPaths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def is_running(paths: DemoPaths) -> bool:
    return _alive(_pid(paths))


def _ctl(binary: str, paths: DemoPaths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "-f", str(paths.conf), *args], capture_output=True, text=True, timeout=60, env=apachectl._clean_env()
    )


def write_config(paths: DemoPaths, *, http_port: int, manager_port: int) -> None:
    (paths.workdir / "run").mkdir(parents=True, exist_ok=True)
    paths.conf.write_text(
        apachectl.standalone_config(
            workdir=paths.workdir,
            include=paths.config_dir / "hostpanel.conf",
            listen=[f"127.0.0.1:{http_port}"],
            manager_listen=f"127.0.0.1:{manager_port}",
        ),
        encoding="utf-8",
    )
    if not os.path.lexists(paths.config_dir):
        # Before the first deploy: an empty release, so that Apache can start and include it.
        initial = Path(f"{paths.config_dir}.releases") / "initial"
        initial.mkdir(parents=True, exist_ok=True)
        (initial / "hostpanel.conf").write_text("# Nothing deployed yet: HostPanel's first deploy replaces this.\n")
        paths.config_dir.symlink_to(initial)


def ensure_frontend(paths: DemoPaths, *, binary: str, http_port: int, manager_port: int, actor: Actor) -> FrontEnd:
    """Create or update the FrontEnd "demo" (local transport) pointing at this Apache."""
    fields = {
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
    actor: Actor | None = None,
    paths: DemoPaths | None = None,
) -> tuple[DemoPaths, FrontEnd] | None:
    """Write the config, register the front-end and start Apache (idempotent). None without apache2."""
    binary = apachectl.apache_binary()
    if not binary:
        return None
    paths = paths or DemoPaths.default()
    actor = actor or Actor.command("demo_frontend")
    write_config(paths, http_port=http_port, manager_port=manager_port)
    frontend = ensure_frontend(paths, binary=binary, http_port=http_port, manager_port=manager_port, actor=actor)
    if not is_running(paths):
        apachectl.grant_traverse(paths.config_dir)  # Apache's children run as www-data when we are root
        apachectl.grant_traverse(Path(f"{paths.config_dir}.releases"))
        proc = _ctl(binary, paths, "-k", "start")
        if proc.returncode != 0:
            raise DemoError(f"apache2 -k start failed: {proc.stdout}{proc.stderr}".strip())
        deadline = time.monotonic() + 15
        while not is_running(paths):
            if time.monotonic() > deadline:
                log = paths.error_log.read_text(errors="replace")[-2000:] if paths.error_log.exists() else ""
                raise DemoError(f"the demo Apache did not start:\n{log}")
            time.sleep(0.05)
    return paths, frontend


def stop(paths: DemoPaths | None = None, timeout: float = 15) -> bool:
    """Stop the demo Apache; True if it was running."""
    paths = paths or DemoPaths.default()
    pid = _pid(paths)
    if not _alive(pid):
        return False
    binary = apachectl.apache_binary()
    if binary:
        _ctl(binary, paths, "-k", "stop")
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)  # the demo Apache's own parent process, by its pid
    return True


# --- demo backends ---------------------------------------------------------------------------------

_VHB = re.compile(r"^/VirtualHostBase/(?P<scheme>[^/]+)/(?P<host>[^/]+)(?P<site>/.*?)/VirtualHostRoot(?P<rest>/.*)?$")


class _DemoHandler(BaseHTTPRequestHandler):
    server_version = "HostPanelDemoZope/1.0"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        name = self.server.backend_name  # type: ignore[attr-defined]
        match = _VHB.match(self.path.split("?")[0])
        if match:
            detail = (
                f"Plone site <code>{html.escape(match['site'])}</code> for <code>{html.escape(match['host'])}</code>"
            )
        else:
            detail = f"path <code>{html.escape(self.path)}</code>"
        body = (
            "<!doctype html><title>HostPanel demo</title>"
            f"<h1>Served by {html.escape(name)}</h1><p>{detail}</p>"
            "<p>This is one of HostPanel's demo backends standing in for a Zope server.</p>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("X-Backend", name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class DemoBackends:
    """Tiny HTTP servers named after Zope servers, each on its own 127.0.0.1 port."""

    def __init__(self, servers: list[tuple[str, int]]) -> None:
        self.servers: list[ThreadingHTTPServer] = []
        self.skipped: list[tuple[str, int, str]] = []
        for name, port in servers:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", port), _DemoHandler)
            except OSError as exc:
                self.skipped.append((name, port, exc.strerror or str(exc)))
                continue
            server.daemon_threads = True
            server.backend_name = name  # type: ignore[attr-defined]
            self.servers.append(server)
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]

    def start(self) -> DemoBackends:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def demo_backend_list() -> list[tuple[str, int]]:
    """The Zope servers on 127.0.0.1 in the database (seed_demo puts them on 18101-18103)."""
    from balancers.models import ZopeServer  # noqa: PLC0415

    return list(ZopeServer.objects.filter(host="127.0.0.1").order_by("name").values_list("name", "port"))
