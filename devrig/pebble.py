"""A real ACME CA for the tests and the benchmarks: Debian's pebble, with pebble-challtestsrv as its DNS,
on free loopback ports.

API (keep it small)::

    ca = PebbleCA(workdir, http_port=PORT, nonce_reject_percent=0, refused=())   # PORT: where pebble validates
                              # http-01; refused: names the CA says no to (its domain blocklist: rejectedIdentifier)
    ca.start()                # challtestsrv (DNS answers 127.0.0.1 for every name), then pebble; waits for /dir
    ca.directory_url          # "https://127.0.0.1:P/dir"
    ca.ca_bundle              # file with pebble's own HTTPS certificate (HOSTPANEL_ACME_CA_BUNDLE)
    ca.dns_resolver           # "127.0.0.1:D" (HOSTPANEL_DNS_RESOLVER)
    ca.root_pem()             # pebble's issuing root from the management API (changes at every start)
    ca.set_a(host, ["192.0.2.1"])   # challtestsrv answers this A record for host instead of 127.0.0.1
    ca.stop_pebble()          # the CA goes down (challtestsrv stays)
    ca.stop()                 # every process, waited for

    server = ChallengeFileServer(directory, port).start()   # serves /.well-known/acme-challenge/<token>
    server.stop()

The tests' fixtures ``pebble_ca`` (started) and ``challenge_server`` (a DirectoryPublisher plus the file
server on pebble's httpPort) are in tests/harness/fixtures.py.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from certificates.publishing import check_token
from devrig.net import free_port, tcp_reachable
from devrig.parts import find_binary
from devrig.pki import write_localhost_certificate

START_TIMEOUT = 20.0


class PebbleCA:
    def __init__(
        self, workdir: Path, *, http_port: int, nonce_reject_percent: int = 0, refused: tuple[str, ...] = ()
    ) -> None:
        self.refused = list(refused)
        self.pebble = find_binary("pebble")
        self.challtestsrv = find_binary("pebble-challtestsrv")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.http_port = http_port
        self.nonce_reject_percent = nonce_reject_percent
        self.acme_port = free_port()
        self.management_port = free_port()
        self.tls_port = free_port()
        self.dns_port = free_port()
        self.dns_management_port = free_port()
        self.ca_bundle = str(self.workdir / "pebble-tls.pem")
        self._processes: dict[str, subprocess.Popen] = {}

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def dns_resolver(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self._processes[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
        )
        log.close()

    def _wait_port(self, name: str, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{self.log(name)}")
            if tcp_reachable("127.0.0.1", port, timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer on port {port} within {START_TIMEOUT} s:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> PebbleCA:
        self._spawn(
            "challtestsrv",
            [
                self.challtestsrv,
                "-defaultIPv4", "127.0.0.1",
                "-defaultIPv6", "",
                "-dns01", f"127.0.0.1:{self.dns_port}",
                "-management", f"127.0.0.1:{self.dns_management_port}",
                "-http01", "",
                "-https01", "",
                "-tlsalpn01", "",
            ],
        )  # fmt: skip
        self._wait_port("challtestsrv", self.dns_management_port)
        self.start_pebble()
        return self

    def start_pebble(self) -> None:
        cert, key = self.workdir / "pebble-tls.pem", self.workdir / "pebble-tls.key"
        if not cert.exists():
            write_localhost_certificate(cert, key)
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.acme_port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "domainBlocklist": self.refused,
            }
        }
        config_path = self.workdir / "pebble-config.json"
        config_path.write_text(json.dumps(config, indent=2))
        # bad-nonce rejections are off unless a test asks for them (clients must retry them)
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject_percent)}
        self._spawn("pebble", [self.pebble, "-config", str(config_path), "-dnsserver", self.dns_resolver], env)
        self._wait_port("pebble", self.acme_port)
        self._wait_port("pebble", self.management_port)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_bundle)

    def root_pem(self) -> str:
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=self._context(), timeout=5) as response:
            return response.read().decode("ascii")

    def set_a(self, host: str, addresses: list[str]) -> None:
        body = json.dumps({"host": host.rstrip(".") + ".", "addresses": addresses}).encode()
        url = f"http://127.0.0.1:{self.dns_management_port}/add-a"
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5):
            pass

    def _stop(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop_pebble(self) -> None:
        self._stop("pebble")

    def stop(self) -> None:
        self._stop("pebble")
        self._stop("challtestsrv")


class _ChallengeHandler(http.server.BaseHTTPRequestHandler):
    directory: Path
    requests: list[tuple[str, str]]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        prefix = "/.well-known/acme-challenge/"
        self.requests.append((self.headers.get("Host", ""), self.path))
        token = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
        try:
            body = (self.directory / check_token(token)).read_bytes()
        except (ValueError, OSError):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class ChallengeFileServer:
    """A stand-in front-end: serves the challenge directory on 127.0.0.1:port for any Host."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.requests: list[tuple[str, str]] = []
        handler = type("Handler", (_ChallengeHandler,), {"directory": self.directory, "requests": self.requests})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ChallengeFileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
