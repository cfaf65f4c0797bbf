"""Free TCP ports on 127.0.0.1, for the fake backends, the standalone Apaches and the tests."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass


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


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1 (node vhosts use node_port_base + index)."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
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
) -> Answer:
    """One plain HTTP/1.1 GET to 127.0.0.1:port with a Host header (and a Cookie, and other headers): no
    redirects followed, no proxy, any status returned as it is (a 503 is an answer, not an exception)."""
    headers = {**(headers or {}), "Host": host}
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read().decode(errors="replace"))
    finally:
        conn.close()
