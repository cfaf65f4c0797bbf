"""The verify step's proof that HostPanel's vhost is the one answering, through each listener.

Apache gives a request for a name no vhost claims to the first vhost of its address; a front-end whose main
config has another vhost there first (Debian's 000-default before the Include) serves every site from that
vhost, and every request "works" (the same 404 before and after a deploy). So every release carries its own
file (rendering.manifest.seal_tree: public/hostpanel-release.txt, the digest of the release's other files),
served by HostPanel's vhosts only at RELEASE_URL_PATH, for any Host. After the switch (and the reload) the
deployer asks for it:

* on http_listen, with a Host no site claims (UNCLAIMED_HOST: only the first vhost answers it), and with a
  sample of the tree's site names (each proves that name reaches HostPanel's vhost, not one that claims it);
* on https_listen when the tree has HTTPS vhosts, with SNI and Host of a name no site claims (HostPanel's
  default HTTPS vhost) and of a sample of HTTPS sites (their own vhosts);

and each answer must be 200 with THIS release's file (an old generation still serving after a graceful is
given a few seconds). A few requests per listener, in parallel. A map-only release proves it too: the
symlink switch alone changes the file served.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from hostpanel.http import HttpAnswer, http_exchange
from rendering.manifest import MANIFEST
from rendering.routes import EDGE_NGINX_CONF, EDGE_TLS_DIR, RELEASE_FILE, RELEASE_URL_PATH, sample_entries, whole_map

UNCLAIMED_HOST = "hostpanel-probe.invalid"  # .invalid never resolves: only the first vhost of an address answers it
_REQUEST_SECONDS = 3.0


@dataclass(frozen=True)
class Listener:
    scheme: str  # http | https
    listen: str  # as configured (FrontEnd.http_listen / https_listen)
    host: str  # where the panel reaches it
    port: int


@dataclass(frozen=True)
class Ask:
    listener: Listener
    name: str  # Host (and SNI on https)

    def line(self, answer: HttpAnswer | None) -> str:
        what = "no answer" if answer is None else answer.error if not answer.status else f"HTTP {answer.status}"
        if answer is not None and answer.status == 200:
            what += f" with {answer.body[:80]!r}"
        return f"{self.listener.scheme}://{self.listener.listen} with {self.name!r}: {what}"


def reachable(listen: str, address: str) -> tuple[str, int]:
    """Where the panel reaches a listen address ('*', '0.0.0.0' and '::' are the front-end's address)."""
    host, _, port = listen.strip().split()[0].rpartition(":")
    host = host.strip("[]")
    if host in ("", "*", "0.0.0.0", "::", "_default_"):  # noqa: S104 - a wildcard listen address, not a bind
        host = address
    return host, int(port)


def https_served(tree: dict[str, str]) -> bool:
    """Apache serves HTTPS vhosts (mod_ssl): HostPanel's default HTTPS vhost must be first on https_listen."""
    return any(path.startswith("sites/") and path.endswith(".conf") for path in tree)


def edge_names(tree: dict[str, str]) -> list[str]:
    """The names an nginx edge serves over HTTPS (one certificate file each), [] without the edge."""
    if EDGE_NGINX_CONF not in tree:
        return []
    prefix = EDGE_TLS_DIR + "/"
    return sorted(p[len(prefix) : -len(".pem")] for p in tree if p.startswith(prefix) and p.endswith(".pem"))


def listeners(*, http_listen: str, https_listen: str, address: str, tree: dict[str, str]) -> list[Listener]:
    found = [Listener("http", http_listen, *reachable(http_listen, address))]
    if https_served(tree) or edge_names(tree):
        found.append(Listener("https", https_listen, *reachable(https_listen, address)))
    return found


def plan_asks(found: list[Listener], tree: dict[str, str], *, sample: int) -> list[Ask]:
    """The unclaimed name on each listener, and up to `sample` live site names (HTTPS sites on https)."""
    rng = random.Random(tree.get(MANIFEST, ""))  # noqa: S311 - a sample, not a secret
    asks: list[Ask] = []
    served_by_edge = edge_names(tree)
    for listener in found:
        if listener.scheme == "https" and served_by_edge:
            # nginx has no certificate for a name no site claims (that handshake fails): the edge's proof is
            # that sampled HTTPS names get this release's file from Apache's edge vhost behind it
            names = sorted(rng.sample(served_by_edge, min(max(sample, 1), len(served_by_edge))))
            asks += [Ask(listener, name) for name in names]
            continue
        asks.append(Ask(listener, UNCLAIMED_HOST))
        if listener.scheme == "http":
            picked = sample_entries(whole_map(tree), sample * 3, rng) if sample else {}
            names = sorted(name for name, value in picked.items() if value.startswith("live|"))
        else:
            domains = sorted(p[len("sites/") : -len(".conf")] for p in tree if p.startswith("sites/"))
            names = sorted(rng.sample(domains, min(sample, len(domains))))
        asks += [Ask(listener, name) for name in names[:sample]]
    return asks


def ask(item: Ask, timeout: float) -> HttpAnswer:
    listener = item.listener
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    return http_exchange(
        "GET",
        f"{listener.scheme}://{host}:{listener.port}{RELEASE_URL_PATH}",
        host=item.name,
        tls_name=item.name,
        verify_tls=False,  # which vhost answers is the question here, not the certificate
        timeout=timeout,
        max_bytes=512,
    )


def proves(answer: HttpAnswer, expected: str) -> bool:
    return answer.status == 200 and answer.body.decode(errors="replace").strip() == expected.strip()


def prove_release(
    tree: dict[str, str],
    *,
    http_listen: str,
    https_listen: str,
    address: str,
    seconds: float | None = None,
    sample: int | None = None,
) -> str:
    """ "" when every listener answered with this release's file, else why not (naming each failing ask and
    what it got instead)."""
    expected = tree.get(RELEASE_FILE)
    if expected is None:
        return ""  # a tree rendered before release files existed (a rollback to a stored tree): nothing to prove
    seconds = float(settings.HOSTPANEL_VERIFY_RELEASE_SECONDS) if seconds is None else seconds
    sample = int(settings.HOSTPANEL_VERIFY_RELEASE_SAMPLE) if sample is None else sample
    found = listeners(http_listen=http_listen, https_listen=https_listen, address=address, tree=tree)
    pending = plan_asks(found, tree, sample=sample)
    deadline = time.monotonic() + seconds
    answers: dict[Ask, HttpAnswer] = {}
    with ThreadPoolExecutor(max_workers=min(8, len(pending)), thread_name_prefix="release-proof") as pool:
        while pending:
            left = deadline - time.monotonic()
            timeout = max(0.2, min(_REQUEST_SECONDS, left))
            round_answers = pool.map(ask, pending, [timeout] * len(pending))
            for item, answer in zip(pending, round_answers, strict=True):
                answers[item] = answer
            pending = [item for item in pending if not proves(answers[item], expected)]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)  # until the graceful is done, the old generation answers with the old release
    if not pending:
        return ""
    failing = "; ".join(item.line(answers.get(item)) for item in pending[:8])
    return (
        f"HostPanel's vhost is not the one answering: {len(pending)} of {len(answers)} request(s) for "
        f"{RELEASE_URL_PATH} did not get this release's file within {seconds:g} s ({failing})"
    )
