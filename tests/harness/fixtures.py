"""The pytest fixtures over the one rig (devrig): standalone Apaches, fake Zope/Plone backends, the two-host
`farm` (devrig.fleet over SSH), pebble and its challenge server, silent and closed ports, canned HTTP answers,
a peer that drips its headers. A part the rig finds missing (devrig.parts.MissingPart) skips the test locally
and fails it in CI (tests/realparts.py). Loaded for every test by `pytest_plugins` in tests/conftest.py;
nothing imports this module."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certificates.publishing import DirectoryPublisher
from devrig.apache import StandaloneApache
from devrig.backends import Backend
from devrig.fleet import Fleet, build_fleet, make_client_key
from devrig.net import free_port
from devrig.nginx import StandaloneNginx
from devrig.node import NodeFrontend
from devrig.parts import MissingPart
from devrig.pebble import ChallengeFileServer, PebbleCA
from devrig.slow_http import DrippingServer
from tests.realparts import missing, require_binary


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    except MissingPart as error:
        missing(str(error))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except MissingPart as error:
        missing(str(error))


@pytest.fixture
def apache_factory(tmp_path):
    """make(config_dir, listen=[...], manager=False, **kw) -> a configured, NOT yet started
    StandaloneApache under tmp_path; every one is stopped when the test ends."""
    require_binary("apache2")
    made: list[StandaloneApache] = []

    def make(config_dir: Path, *, listen: list[str] | tuple[str, ...] = (), manager: bool = False, **kw):
        apache = StandaloneApache(tmp_path / f"apache{len(made)}", config_dir, listen=listen, manager=manager, **kw)
        made.append(apache.write_config())
        return apache

    yield make
    for apache in made:
        apache.stop()


@pytest.fixture
def nginx_factory(tmp_path):
    """make(config_dir, listen="127.0.0.1:PORT", **kw) -> a configured, NOT yet started StandaloneNginx (the TLS
    edge) under tmp_path; every one is stopped when the test ends."""
    require_binary("nginx")
    made: list[StandaloneNginx] = []

    def make(config_dir: Path, *, listen: str = "", **kw) -> StandaloneNginx:
        nginx = StandaloneNginx(tmp_path / f"nginx{len(made)}", config_dir, listen, **kw)
        made.append(nginx.write_config())
        return nginx

    yield make
    for nginx in made:
        nginx.stop()


@pytest.fixture
def node_factory():
    """make(name, **options) -> a started Node.js frontend stand-in (devrig.node) on a free port; all stopped
    when the test ends."""
    started: list[NodeFrontend] = []

    def make(name: str, **options) -> NodeFrontend:
        node = NodeFrontend(name, **options).start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


@pytest.fixture
def backend_factory():
    """make(name, **options) -> a started fake Zope backend on a free port; all stopped when the test ends."""
    started: list[Backend] = []

    def make(name: str, **options) -> Backend:
        backend = Backend(name, **options).start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()


@pytest.fixture
def backends(backend_factory) -> dict[str, Backend]:
    """The demo's three Zope servers as started fake backends: zope1, zope2, backup."""
    return {name: backend_factory(name) for name in ("zope1", "zope2", "backup")}


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung front-end)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    sock.close()


@pytest.fixture
def closed_port():
    """A port nothing listens on (connection refused). The port stays bound, without listen(), for the
    whole test: a connect gets a reset at once, and no parallel test can start a server on it meanwhile."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


@pytest.fixture
def canned_server():
    """start(status, body, content_type, headers) -> (URL, server) of a server that answers every request
    with that (headers: extra response headers, e.g. a Location); it records the requests it saw in
    server.requests."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int = 200, body: bytes = b"", content_type: str = "text/xml", headers: dict | None = None):
        seen: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.requests = seen
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/balancer-manager", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dripping_server():
    """start(interval=0.5) -> a DrippingServer on 127.0.0.1: its headers come one byte per interval, forever."""
    servers: list[DrippingServer] = []

    def start(interval: float = 0.5) -> DrippingServer:
        servers.append(DrippingServer(interval))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def farm(transactional_db, tmp_path, settings, apache_factory, backend_factory) -> Iterator[Fleet]:
    """Two front-ends fe1, fe2 (each a real sshd + Apache with mod_ssl, HTTP and HTTPS ports) over two fake
    Zope backends zope1, zope2, balancer bronze (devrig.fleet), the panel's SSH key in settings."""
    require_binary("sshd")
    require_binary("apache2")
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    settings.HOSTPANEL_VERIFY_RELEASE = True  # real Apaches: every deploy proves HostPanel's vhost answers
    fleet = build_fleet(tmp_path, apache_factory, backend_factory, frontends=2, client_key=key)
    yield fleet
    fleet.stop()


@pytest.fixture
def edge_farm(transactional_db, tmp_path, settings, apache_factory, backend_factory) -> Iterator[Fleet]:
    """The `farm` with every front-end behind an nginx TLS edge (FrontEnd.tls_edge = "nginx", host.nginx on the
    HTTPS port, Apache on the HTTP port and the edge's loopback listener)."""
    require_binary("sshd")
    require_binary("apache2")
    require_binary("nginx")
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    settings.HOSTPANEL_VERIFY_RELEASE = True
    fleet = build_fleet(tmp_path, apache_factory, backend_factory, frontends=2, client_key=key, edge=True)
    yield fleet
    fleet.stop()


@pytest.fixture
def challenge_port() -> int:
    return free_port()


@pytest.fixture
def nonce_reject_percent() -> int:
    """Override in a test module (or parametrize) to make pebble reject nonces."""
    return 0


@pytest.fixture
def refused_names() -> tuple[str, ...]:
    """Override (or parametrize) to make pebble say no to these names (its domain blocklist)."""
    return ()


@pytest.fixture
def pebble_ca(tmp_path, challenge_port, nonce_reject_percent, refused_names):
    ca = PebbleCA(
        tmp_path / "pebble", http_port=challenge_port, nonce_reject_percent=nonce_reject_percent, refused=refused_names
    )
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
