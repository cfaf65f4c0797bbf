"""A standalone Apache 2.4 with a balancer-manager vhost and small real HTTP backends, for the
status tests and the fixture capture. Every process and thread started here is stopped by its
owner (the pytest fixtures in conftest.py, or the capture script's finally block)."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from balancers.apachectl import MODULES
from tests.realparts import free_port, require_binary, tcp_reachable


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: every connection closes, so a stopped backend is really gone (no pooled keep-alive
    # connection from Apache keeps reaching its handler thread).
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.backend_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Backend", self.server.backend_name)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@dataclass
class Backend:
    """A tiny HTTP server on 127.0.0.1 that answers every GET with its name."""

    name: str
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Backend:
        if not self.port:
            self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self._server.backend_name = self.name  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Apache:
    """apache2 -f <dir>/httpd.conf on 127.0.0.1: a site port, a balancer-manager port, and an
    include file with the balancers (rendered config or hand-written)."""

    root: Path
    site_port: int = 0
    manager_port: int = 0
    body: str = ""
    binary: str = ""
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)

    @property
    def manager_url(self) -> str:
        return f"http://127.0.0.1:{self.manager_port}/balancer-manager"

    @property
    def pidfile(self) -> Path:
        return self.root / "httpd.pid"

    def write_config(self, body: str | None = None) -> None:
        if body is not None:
            self.body = body
        modules = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in MODULES)
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        (self.root / "include.conf").write_text(self.body)
        (self.root / "httpd.conf").write_text(
            f"""{modules}
ServerRoot {self.root}
ServerName 127.0.0.1
PidFile {self.pidfile}
ErrorLog {self.root}/error.log
LogLevel warn
TypesConfig /dev/null
DefaultRuntimeDir {self.root}/run
Mutex file:{self.root}/run default
User {"www-data" if os.geteuid() == 0 else "#" + str(os.geteuid())}
Group {"www-data" if os.geteuid() == 0 else "#" + str(os.getegid())}
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
Listen 127.0.0.1:{self.site_port}
Listen 127.0.0.1:{self.manager_port}
<VirtualHost 127.0.0.1:{self.manager_port}>
    ServerName 127.0.0.1
    <Location /balancer-manager>
        SetHandler balancer-manager
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
Include {self.root}/include.conf
"""
        )

    def start(self) -> Apache:
        self.binary = require_binary("apache2")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # noqa: S103 - Apache children (www-data) read the docroot-less tree
        self.site_port = self.site_port or free_port()
        self.manager_port = self.manager_port or free_port()
        self.write_config()
        test = subprocess.run([self.binary, "-t", "-f", str(self.root / "httpd.conf")], capture_output=True, text=True)
        if test.returncode:
            raise RuntimeError(f"apache2 -t failed: {test.stderr}")
        self.process = subprocess.Popen(
            [self.binary, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"apache2 exited: {self.process.stderr.read().decode()}")
            if tcp_reachable("127.0.0.1", self.manager_port, 0.2) and tcp_reachable("127.0.0.1", self.site_port, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("apache2 did not start listening within 10 s")

    def graceful(self, body: str | None = None) -> None:
        """Rewrite the include, check it, and reload gracefully; waits until the new generation serves."""
        self.write_config(body)
        test = subprocess.run([self.binary, "-t", "-f", str(self.root / "httpd.conf")], capture_output=True, text=True)
        if test.returncode:
            raise RuntimeError(f"apache2 -t failed: {test.stderr}")
        before = self.generation_marker()
        os.kill(self.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.1)
            marker = self.generation_marker()
            if marker and marker != before:
                return
        raise RuntimeError("graceful reload did not take effect within 10 s")

    def generation_marker(self) -> str:
        """The balancer nonces change with every generation: a cheap "did the reload happen" check."""
        try:
            req = urllib.request.Request(self.manager_url + "?xml=1", headers={"Referer": self.manager_url})
            with urllib.request.urlopen(req, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return ""
        return ",".join(part.split("</httpd:nonce>")[0] for part in text.split("<httpd:nonce>")[1:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def get(self, path: str = "/", cookie: str | None = None, host: str = "127.0.0.1") -> tuple[int, str, str]:
        """(status, body, Set-Cookie) of a client request to the site port."""
        headers = {"Host": host}
        if cookie:
            headers["Cookie"] = cookie
        req = urllib.request.Request(f"http://127.0.0.1:{self.site_port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode(), resp.headers.get("Set-Cookie", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), ""


def hand_written_balancer(name: str, members: list[tuple[str, Backend, str]], site_port: int) -> str:
    """A single-pass balancer like apache-facts.md §2 (members: route, backend, extra params)."""
    lines = [f"<Proxy balancer://{name}>"]
    for route, backend, extra in members:
        route_part = f" route={route}" if route else ""
        lines.append(f"    BalancerMember {backend.url} lbset=1 loadfactor=1 timeout=5 retry=60{route_part} {extra}")
    lines += [
        "    ProxySet lbmethod=byrequests stickysession=BALANCEID nofailover=Off maxattempts=2 timeout=20",
        "    Require all granted",
        "</Proxy>",
        f"<VirtualHost 127.0.0.1:{site_port}>",
        "    ServerName site.example",
        '    Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED',
        "    RewriteEngine On",
        f"    RewriteRule ^/(.*) balancer://{name}/$1 [L,P]",
        "</VirtualHost>",
    ]
    return "\n".join(lines) + "\n"
