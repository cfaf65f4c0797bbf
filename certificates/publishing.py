"""How challenge files reach the front-ends: the one seam between certificates and the deploy side.

The ACME step (certificates.services.certificate_issue) and the pre-flight check only need this::

    class ChallengePublisher(Protocol):
        frontend_addresses: frozenset[str]   # the IPs a site's names must resolve to (every enabled front-end)
        http_port: int                       # where the CA knocks (80; pebble's httpPort in tests)
        def publish(self, token: str, content: str) -> None    # on EVERY enabled front-end, or raise
        def unpublish(self, token: str) -> None                # best effort

Publishing is a file upload into the challenge directory each front-end serves on HTTP for any Host
(no configtest, no reload). The integration phase implements it over balancers' transport and registers
it once (`register_frontends_publisher(factory)`, e.g. from an AppConfig.ready()); the periodic task asks
`frontends_publisher()` for it. `DirectoryPublisher` writes into one local directory (local front-end,
tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


@runtime_checkable
class ChallengePublisher(Protocol):
    frontend_addresses: frozenset[str]
    http_port: int

    def publish(self, token: str, content: str) -> None: ...

    def unpublish(self, token: str) -> None: ...


def check_token(token: str) -> str:
    """Tokens become file names on front-ends: base64url characters only."""
    if not TOKEN_RE.fullmatch(token):
        raise ValueError(f"not an ACME token: {token!r}")
    return token


class DirectoryPublisher:
    """Challenge files in one local directory (served as /.well-known/acme-challenge/ by a local front-end)."""

    def __init__(self, directory: Path, *, frontend_addresses: frozenset[str], http_port: int = 80) -> None:
        self.directory = Path(directory)
        self.frontend_addresses = frozenset(frontend_addresses)
        self.http_port = http_port

    def publish(self, token: str, content: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / check_token(token)
        path.write_text(content)
        path.chmod(0o644)

    def unpublish(self, token: str) -> None:
        (self.directory / check_token(token)).unlink(missing_ok=True)


_factory: Callable[[], ChallengePublisher] | None = None


def register_frontends_publisher(
    factory: Callable[[], ChallengePublisher] | None,
) -> Callable[[], ChallengePublisher] | None:
    """Install the factory that builds the publisher for every enabled front-end (None removes it); returns
    the one it replaces (a test puts it back)."""
    global _factory
    previous, _factory = _factory, factory
    return previous


def frontends_publisher() -> ChallengePublisher | None:
    """The registered publisher, or None while no deploy side has registered one."""
    return _factory() if _factory is not None else None
