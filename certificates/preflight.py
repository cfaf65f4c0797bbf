"""Pre-flight check before an order (as ISPConfig does): does each name really reach our front-ends?

A name that does not would fail its http-01 challenge and burn the CA's failed-authorization limit
(5 per name per hour), so it is reported and left out instead.

API::

    result = preflight_check(
        ["example.com", "www.example.com"],
        frontend_addresses={"192.0.2.10", "192.0.2.11"},
        publish=publish, unpublish=unpublish,   # the same callbacks as the ACME challenge (file upload only)
        http_port=80, resolver="127.0.0.1:8053",   # resolver: HOSTPANEL_DNS_RESOLVER ("" = the system's)
    )
    result.reachable       # ["example.com"]
    result.failures        # {"www.example.com": "www.example.com does not point at our front-ends (...)"}
    hide_addresses(text)   # the same words without IP addresses: for callers who may not see where names
                           # resolve (billing and read API tokens); operators see the whole report

Each name must resolve (A and AAAA) to front-end addresses only (a CA may pick any address it finds),
and a random token published in the challenge directory must come back over HTTP from each of those
addresses with the name as Host.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.resolver

from hostpanel.http import http_exchange

CHALLENGE_PATH = "/.well-known/acme-challenge/"
MAX_BODY = 4096


ADDRESS_HIDDEN = "[address hidden]"
# candidates only (each is checked by ipaddress): dotted quads, and runs of hex groups with at least two colons
_ADDRESS_RE = re.compile(
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\w)"  # IPv4 (a port may follow)
    r"|(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])"  # IPv6, with a zone
)


def _hidden(match: re.Match) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return text
    return ADDRESS_HIDDEN


def hide_addresses(text: str) -> str:
    """`text` (a pre-flight report, a CA's error) with every IPv4 and IPv6 address replaced by a placeholder:
    where a customer's names resolve, and the front-ends' (internal) addresses, are for operators only."""
    return _ADDRESS_RE.sub(_hidden, text) if text else text


@dataclass(frozen=True)
class PreflightResult:
    reachable: list[str]
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """One sentence per failing name, for the site page and the attempt row."""
        return " ".join(self.failures[name] for name in self.failures)


def _resolver(spec: str) -> dns.resolver.Resolver | None:
    if not spec:
        return None
    host, _, port = spec.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host.strip("[]")]
    resolver.port = int(port)
    return resolver


def resolve_addresses(name: str, *, resolver: str = "", timeout: float = 5.0) -> set[str]:
    """Every IPv4 and IPv6 address of a name, through `resolver` (host:port) or the system's resolver."""
    custom = _resolver(resolver)
    if custom is None:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return set()
        return {str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}
    custom.lifetime = timeout
    found: set[str] = set()
    for rdtype in ("A", "AAAA"):
        try:
            answer = custom.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.Timeout:
            continue
        found.update(str(ipaddress.ip_address(r.address)) for r in answer)
    return found


def fetch_token(address: str, port: int, name: str, token: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET the challenge path from one address with the name as Host (no redirects followed), through the
    one HTTP client: over within `timeout` seconds in total. OSError when no answer came."""
    host = f"[{address}]" if ":" in address else address
    answer = http_exchange(
        "GET",
        f"http://{host}:{port}{CHALLENGE_PATH}{token}",
        host=name,
        headers={"User-Agent": "HostPanel preflight"},
        timeout=timeout,
        max_bytes=MAX_BODY,
    )
    if not answer.status:
        raise OSError(answer.error)
    return answer.status, answer.body


def preflight_check(
    names: Iterable[str],
    *,
    frontend_addresses: Iterable[str],
    publish: Callable[[str, str], None],
    unpublish: Callable[[str], None],
    http_port: int = 80,
    resolver: str = "",
    timeout: float = 5.0,
) -> PreflightResult:
    """Check every name; see the module docstring. publish() raising is left to the caller."""
    ours = {str(ipaddress.ip_address(a)) for a in frontend_addresses}
    names = list(names)
    failures: dict[str, str] = {}
    addresses: dict[str, set[str]] = {}
    for name in names:
        found = resolve_addresses(name, resolver=resolver, timeout=timeout)
        if not found:
            failures[name] = f"{name} does not point at our front-ends (it does not resolve)."
        elif not found <= ours:
            others = ", ".join(sorted(found - ours))
            failures[name] = f"{name} does not point at our front-ends (it resolves to {others})."
        else:
            addresses[name] = found
    if not addresses:
        return PreflightResult(reachable=[], failures=failures)

    token = secrets.token_urlsafe(32)
    content = secrets.token_urlsafe(32)
    publish(token, content)
    try:
        for name, found in addresses.items():
            for address in sorted(found):
                try:
                    status, body = fetch_token(address, http_port, name, token, timeout=timeout)
                except OSError as exc:
                    failures[name] = f"{name} does not reach our front-ends: {address} port {http_port}: {exc}."
                    break
                if status != 200 or body.strip() != content.encode("ascii"):
                    failures[name] = (
                        f"{name} does not reach our front-ends: {address} answered HTTP {status} "
                        f"without the published check file."
                    )
                    break
    finally:
        unpublish(token)
    return PreflightResult(reachable=[n for n in names if n not in failures], failures=failures)
