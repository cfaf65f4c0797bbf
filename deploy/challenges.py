"""ACME http-01 challenges on every enabled front-end: certificates.publishing.ChallengePublisher over the
front-ends' transports (registered at start-up by balancers.apps).

    publisher = FrontendsChallengePublisher(FrontEnd.objects.filter(enabled=True))
    publisher.publish(token, key_authorization)   # on EVERY front-end, in parallel, or ChallengePublishError
    publisher.unpublish(token)                    # best effort, everywhere

A token is one file in the front-end's challenge directory (rendering.manifest.challenge_dir: next to
config_dir, in no release), written atomically (temporary name, then rename): no configtest, no reload,
no deployment. When one front-end cannot take it, the token is taken back from the others and the
error names that front-end: the CA is not asked to validate a name some front-end would answer 404 for.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings

from certificates.preflight import resolve_addresses
from certificates.publishing import check_token
from deploy.transport.pool import open_transport, release_transport
from deploy.transport.protocol import TransportError
from rendering.manifest import challenge_dir

if TYPE_CHECKING:
    from balancers.models import FrontEnd

log = logging.getLogger(__name__)

TOKEN_MODE = 0o644  # Apache's children serve it


class ChallengePublishError(RuntimeError):
    """A challenge file could not be put on (every) front-end; the message names the front-ends."""


def frontend_addresses(frontends: Iterable[FrontEnd], *, resolver: str = "") -> frozenset[str]:
    """The IP addresses of the front-ends (FrontEnd.address, resolved when it is a name)."""
    found: set[str] = set()
    for frontend in frontends:
        try:
            found.add(str(ipaddress.ip_address(frontend.address)))
        except ValueError:
            found |= resolve_addresses(frontend.address, resolver=resolver)
    return frozenset(found)


class FrontendsChallengePublisher:
    """The ChallengePublisher of certificates.publishing, for the given (enabled) front-ends."""

    def __init__(self, frontends: Iterable[FrontEnd], *, http_port: int | None = None) -> None:
        self.frontends = list(frontends)
        self.http_port = http_port or settings.HOSTPANEL_ACME_HTTP_PORT
        self.frontend_addresses = frontend_addresses(self.frontends, resolver=settings.HOSTPANEL_DNS_RESOLVER)

    def _on_each(self, action: Callable[[FrontEnd], None], frontends: list[FrontEnd]) -> dict[str, str]:
        """Run action on every front-end in parallel; {front-end name: error} of those that failed."""

        def one(frontend: FrontEnd) -> tuple[str, str]:
            try:
                action(frontend)
            except TransportError as exc:
                return frontend.name, exc.message
            return frontend.name, ""

        if not frontends:
            return {}
        workers = min(len(frontends), settings.HOSTPANEL_DEPLOY_PARALLELISM)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="challenge") as pool:
            return {name: error for name, error in pool.map(one, frontends) if error}

    @staticmethod
    def _with_transport(frontend: FrontEnd, work: Callable) -> None:
        transport = open_transport(frontend, pooled=True)
        healthy = False
        try:
            work(transport)
            healthy = True
        finally:
            release_transport(frontend, transport, healthy=healthy)

    def publish(self, token: str, content: str) -> None:
        check_token(token)
        if not self.frontends:
            raise ChallengePublishError("no enabled front-end to publish the challenge on")

        def put(frontend: FrontEnd) -> None:
            directory = challenge_dir(frontend.config_dir)

            def work(transport) -> None:
                transport.mkdir_p(directory)
                transport.write_file(f"{directory}/{token}", content.encode("ascii"), atomic=True, mode=TOKEN_MODE)

            self._with_transport(frontend, work)

        failed = self._on_each(put, self.frontends)
        if failed:
            self._on_each(self._remover(token), [f for f in self.frontends if f.name not in failed])
            names = ", ".join(f"{name}: {error}" for name, error in sorted(failed.items()))
            raise ChallengePublishError(f"the challenge could not be put on every front-end ({names})")

    def _remover(self, token: str) -> Callable[[FrontEnd], None]:
        def remove(frontend: FrontEnd) -> None:
            path = f"{challenge_dir(frontend.config_dir)}/{token}"
            self._with_transport(frontend, lambda transport: transport.remove_path(path))

        return remove

    def unpublish(self, token: str) -> None:
        check_token(token)
        for name, error in self._on_each(self._remover(token), self.frontends).items():
            log.warning("could not remove the challenge file %s from %s: %s", token, name, error)
