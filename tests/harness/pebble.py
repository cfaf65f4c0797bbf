"""A real ACME CA for the tests: Debian's pebble, with pebble-challtestsrv as its DNS, on free loopback ports.

API (keep it small)::

    ca = PebbleCA(workdir, http_port=PORT, nonce_reject_percent=0)   # PORT: where pebble validates http-01
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

Fixtures (import into a conftest): ``pebble_ca`` (started; needs pebble installed, see tests/realparts.py)
and ``challenge_server`` (a DirectoryPublisher plus the file server on pebble's httpPort).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certificates.publishing import DirectoryPublisher, check_token
from devrig.net import free_port, tcp_reachable
from tests.realparts import require_binary

START_TIMEOUT = 20.0


def write_localhost_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for localhost / 127.0.0.1: pebble's own HTTPS (Debian ships none)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)


class PebbleCA:
    def __init__(self, workdir: Path, *, http_port: int, nonce_reject_percent: int = 0) -> None:
        self.pebble = require_binary("pebble")
        self.challtestsrv = require_binary("pebble-challtestsrv")
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


@pytest.fixture
def challenge_port() -> int:
    return free_port()


@pytest.fixture
def nonce_reject_percent() -> int:
    """Override in a test module (or parametrize) to make pebble reject nonces."""
    return 0


@pytest.fixture
def pebble_ca(tmp_path, challenge_port, nonce_reject_percent):
    ca = PebbleCA(tmp_path / "pebble", http_port=challenge_port, nonce_reject_percent=nonce_reject_percent)
    try:
        ca.start()
        yield ca
    finally:
        ca.stop()


@pytest.fixture
def challenge_server(tmp_path, challenge_port):
    """(publisher, server): a DirectoryPublisher for 127.0.0.1 and the file server on pebble's httpPort."""
    directory = tmp_path / "acme-challenge"
    server = ChallengeFileServer(directory, challenge_port).start()
    publisher = DirectoryPublisher(directory, frontend_addresses=frozenset({"127.0.0.1"}), http_port=challenge_port)
    try:
        yield publisher, server
    finally:
        server.stop()
