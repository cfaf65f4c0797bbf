"""Free TCP ports on 127.0.0.1 (for the fake backends, the standalone Apaches and the tests), and the rig's
plain clients: http_get (no redirects, any status an answer), https_get (SNI, trusting one given root) and
Visitor (a client of one site that keeps its cookies: route stickiness, REST API logins)."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` DIFFERENT free ports (each socket held open until all are chosen: two calls of free_port()
    in a row can return the same port, and one Apache with two Listen lines on it does not start)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out to outgoing connections (and to bind(0))."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1 (node vhosts use node_port_base + index).
    Chosen at random BELOW the ephemeral range: there no outgoing connection (a load test leaves tens of
    thousands, live or in TIME_WAIT) holds a port, and bind(0) never hands one out to another test.
    Probed as Apache binds (SO_REUSEADDR, then listen)."""
    low = _ephemeral_low()
    for _ in range(200):
        base = 10000 + secrets.randbelow(max(1, low - 10000 - count))
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
                sock.listen(1)  # with SO_REUSEADDR a bind alone can succeed beside a listener; listen cannot
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {count} free ports found")


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to host:port is accepted within timeout."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def http_get(
    port: int,
    path: str = "/",
    *,
    host: str = "127.0.0.1",
    cookie: str | None = None,
    timeout: float = 5,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Answer:
    """One plain HTTP/1.1 GET (or `method`) to 127.0.0.1:port with a Host header (and a Cookie, and other headers): no
    redirects followed, no proxy, any status returned as it is (a 503 is an answer, not an exception)."""
    headers = {**(headers or {}), "Host": host}
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read().decode(errors="replace"))
    finally:
        conn.close()


@dataclass
class HttpsAnswer:
    status: int
    headers: dict[str, str]
    body: str
    serial: int
    cookies: list[str] = field(default_factory=list)


def https_get(
    port: int,
    host: str,
    path: str = "/",
    *,
    root_pem: str | None,
    headers: dict | None = None,
    timeout: float = 30,
    source: str | None = None,
) -> HttpsAnswer:
    """GET over TLS from 127.0.0.1:port with SNI and Host = host, trusting only root_pem (chain and
    host name verified: ssl.SSLCertVerificationError otherwise). root_pem=None: nothing verified (to
    look at what a server answers a name it has no certificate for). source: the client's own address
    (another loopback address, e.g. 127.0.0.2: a client that is not the server's own host)."""
    if root_pem is None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=root_pem)
    plain = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None
    )
    raw = context.wrap_socket(plain, server_hostname=host)
    serial = x509.load_der_x509_certificate(raw.getpeercert(binary_form=True)).serial_number
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.sock = raw  # already connected: TLS to 127.0.0.1 with SNI = host, verified for host
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return HttpsAnswer(
            status=response.status,
            headers={k: v for k, v in response.getheaders() if k.lower() != "set-cookie"},
            body=body,
            serial=serial,
            cookies=[v for k, v in response.getheaders() if k.lower() == "set-cookie"],
        )
    finally:
        conn.close()


@dataclass
class Visit:
    """One answer a Visitor got: status, headers in order (Set-Cookie included), body."""

    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Visitor:
    """A browser-like client of a front-end on 127.0.0.1:port for one host name: over TLS when root_pem is given
    (SNI = host, trusting that root only), keeping the cookies it is given (the route cookie) and sending them
    back, JSON bodies and an optional bearer token (Plone's REST API)."""

    port: int
    host: str
    root_pem: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        token: str | None = None,
        accept: str = "application/json",
        timeout: float = 60,
    ) -> Visit:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if self.root_pem is not None:
            context = ssl.create_default_context(cadata=self.root_pem)
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            conn.sock = context.wrap_socket(raw, server_hostname=self.host)
        headers = {"Host": self.host, "Accept": accept}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            visit = Visit(response.status, response.getheaders(), response.read().decode(errors="replace"))
        finally:
            conn.close()
        for key, value in visit.headers:
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return visit


def listener_owned_by_session(port: int, session_id: int) -> bool:
    """Whether the socket listening on 127.0.0.1:`port` belongs to a process of session `session_id` (a process
    started with start_new_session=True: its pid). Linux /proc only. A server that answers on the port it was
    given may be someone else's when its own bind failed (another test took the port meanwhile)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) != session_id:  # field 6: session id
                continue
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return True
        except (OSError, ValueError, IndexError):
            continue
    return False
