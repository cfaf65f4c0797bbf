"""One read of a front-end per deploy attempt, and the one rule that says what kind of change a release is.

`read_plan` reads the host once — the activated-release marker, where config_dir points, the MANIFEST
that release carries and (for the post-deploy probes) its routing map — and returns a frozen `HostPlan`.
deploy.release (compare, upload, swap, ...) and deploy.probes (which names to probe, how many, what to
put back) both take that plan; neither reads the host's state again, so they cannot disagree about it.

`change_of` is the one rule (docs/reliability.md, "Activated release"):
- *unchanged* (ChangeKind.NONE): the release the host last ACTIVATED is the new tree's digest and
  config_dir points at it — never from the MANIFEST alone, which a switched-but-untested release also
  carries;
- *map*: config_dir points at the activated release and the new tree differs from it in routing map
  files alone (rendering.routes.change_kind): switched in, no configtest, no reload;
- *config* otherwise (an unknown, unactivated or hand-switched host included).
No database access here.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass

from django.conf import settings

from balancers.choices import ChangeKind, TlsEdge
from balancers.models import FrontEnd
from deploy.swap import digest_of, resolve
from deploy.transport.protocol import Transport, TransportError
from rendering.manifest import DIGEST, MANIFEST, changed_files, changed_paths, parse_manifest
from rendering.routes import ROUTE_FILES, ROUTES_MAP, change_kind

RELEASES_SUFFIX = ".releases"
ACTIVATED_MARKER = ".activated"


@dataclass(frozen=True)
class Target:
    """What a push needs to know about a front-end (no database access inside the push)."""

    name: str
    config_dir: str
    configtest_command: str
    reload_command: str
    verify_url: str = ""
    # where the site vhosts listen, for the proof that HostPanel's vhost answers there (deploy.vhost_proof);
    # prove_release False (a Target built by hand, or HOSTPANEL_VERIFY_RELEASE off): no proof asked
    http_listen: str = ""
    https_listen: str = ""
    address: str = ""
    prove_release: bool = False
    # the nginx TLS edge's commands (FrontEnd.tls_edge = nginx), run after Apache's; "" without the edge
    edge_configtest_command: str = ""
    edge_reload_command: str = ""

    @classmethod
    def of(cls, frontend: FrontEnd) -> Target:
        edge = frontend.tls_edge == TlsEdge.NGINX
        return cls(
            name=frontend.name,
            config_dir=frontend.config_dir.rstrip("/"),
            configtest_command=frontend.configtest_command,
            reload_command=frontend.reload_command,
            verify_url=frontend.health_url or frontend.balancer_manager_url,
            http_listen=frontend.http_listen,
            https_listen=frontend.https_listen,
            address=frontend.address,
            prove_release=bool(settings.HOSTPANEL_VERIFY_RELEASE),
            edge_configtest_command=frontend.edge_configtest_command if edge else "",
            edge_reload_command=frontend.edge_reload_command if edge else "",
        )

    @property
    def releases_dir(self) -> str:
        return self.config_dir + RELEASES_SUFFIX

    @property
    def marker(self) -> str:
        return f"{self.releases_dir}/{ACTIVATED_MARKER}"


@dataclass(frozen=True)
class HostPlan:
    """What the host serves before this attempt, read once, and what the new tree is to it."""

    digest: str  # the new tree's
    activated: str  # the digest the host last activated ("" = unknown: no marker, or a switch in progress)
    link: str | None  # config_dir's symlink target as read; None: not a symlink (a plain directory, or nothing)
    live_manifest: bytes | None  # the MANIFEST config_dir serves now (None: none)
    change: str  # ChangeKind: NONE (unchanged), MAP or CONFIG (change_of)
    serves_activated: bool = False  # config_dir points at the activated release, which is on disk
    live_map: dict[str, str] | None = None  # the host's routing map files, for the probe plan (None: none)
    seconds: float = 0.0  # how long the read took
    # the tree this process rendered that the activated release carries, byte for byte by its MANIFEST's
    # sha256 taken on the host (None: not known, the MANIFEST was read back): compare and upload use it
    live_tree: dict[str, str] | None = None
    live_changed: set[str] | None = None  # the paths that differ between live_tree and the new tree

    @property
    def unchanged(self) -> bool:
        return self.change == ChangeKind.NONE


def read_activated(transport: Transport, target: Target) -> str:
    """The digest the host last activated, or "" when unknown (no marker, or a switch in progress)."""
    data = transport.read_file(target.marker)
    text = (data or b"").decode(errors="replace").strip()
    return text if DIGEST.fullmatch(text) else ""


def change_of(
    target: Target,
    tree: dict[str, str],
    activated: str,
    link: str | None,
    live: bytes | None,
    live_tree: dict[str, str] | None = None,
    live_changed: set[str] | None = None,
) -> str:
    """THE rule (module docstring), from what was read: the marker's digest, config_dir's link and the
    MANIFEST of the release it points at (`live_tree`: the tree that MANIFEST is, when known)."""
    if not activated or link is None or live is None:
        return ChangeKind.CONFIG
    if resolve(posixpath.dirname(target.config_dir), link) != f"{target.releases_dir}/{activated}":
        return ChangeKind.CONFIG  # Apache may not run what config_dir points at
    wanted = tree[MANIFEST]
    if activated == digest_of(tree) and live == wanted.encode():
        return ChangeKind.NONE
    try:
        if live_tree is not None:
            changed = live_changed if live_changed is not None else changed_files(live_tree, tree)
        else:
            changed = changed_paths(live.decode(), wanted)
        kind = change_kind(changed)
    except (ValueError, UnicodeDecodeError):
        return ChangeKind.CONFIG
    return ChangeKind.MAP if kind == ChangeKind.MAP else ChangeKind.CONFIG


def read_plan(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    routes: bool = False,
    known: dict[str, str] | None = None,
) -> HostPlan:
    """Read the host once (raises TransportError). `routes`: also read its routing map for the probe
    plan (not for an unchanged host); `known`, a tree the host may serve, spares reading a map the live
    MANIFEST lists with the same digest."""
    started = time.monotonic()
    activated = read_activated(transport, target)
    link = transport.readlink(target.config_dir)
    live_tree, live_changed = None, None
    if link is not None:
        serving = resolve(posixpath.dirname(target.config_dir), link)
        if activated and serving == f"{target.releases_dir}/{activated}":
            live_tree = _verified_live(transport, serving, activated, (tree, known or {}))
        live = live_tree[MANIFEST].encode() if live_tree is not None else transport.read_file(f"{serving}/{MANIFEST}")
        live_changed = changed_files(live_tree, tree) if live_tree is not None else None
        change = change_of(target, tree, activated, link, live, live_tree, live_changed)
        if not routes or change == ChangeKind.NONE:
            live_map = None
        elif live_tree is not None:
            live_map = {path: live_tree[path] for path in sorted(ROUTE_FILES) if path in live_tree}
            live_map = live_map if ROUTES_MAP in live_map else None
        else:
            live_map = _live_map(transport, serving, live, known or {})
    else:  # no release of ours: a first deploy (a directory is kept as a release) or a file the push refuses
        serving, change = target.config_dir, ChangeKind.CONFIG
        try:  # only the probes look inside it; what it is, the push finds out (deploy.swap.Swapper.prepare)
            live = transport.read_file(f"{serving}/{MANIFEST}") if routes else None
            live_map = _live_map(transport, serving, live, known or {}) if routes else None
        except TransportError:
            live, live_map = None, None
    return HostPlan(
        digest=digest_of(tree),
        activated=activated,
        link=link,
        live_manifest=live,
        change=change,
        serves_activated=bool(activated) and live is not None and serving == f"{target.releases_dir}/{activated}",
        live_map=live_map,
        seconds=time.monotonic() - started,
        live_tree=live_tree,
        live_changed=live_changed,
    )


def _verified_live(
    transport: Transport, serving: str, activated: str, candidates: tuple[dict[str, str], ...]
) -> dict[str, str] | None:
    """The candidate (a tree this process rendered) whose digest is the activated one, when the MANIFEST
    of the release served hashes to it on the host: then that MANIFEST is the candidate's, byte for byte,
    and is not read back (2.7 MB at 10,000 HTTPS sites). None: no candidate, or the host's differs (it is
    read back, as without one)."""
    for tree in candidates:
        if MANIFEST in tree and digest_of(tree) == activated:
            return tree if transport.file_digest(f"{serving}/{MANIFEST}") == activated else None
    return None


def _live_map(
    transport: Transport, serving: str, live_manifest: bytes | None, known: dict[str, str]
) -> dict[str, str] | None:
    """The host's routing map files: from `known` when the live MANIFEST names their digests, else each
    file that does not match read from the host (the base: 1 MB at 10,000 sites). None: no map."""
    try:
        listed = parse_manifest(live_manifest.decode()) if live_manifest else {}
    except (ValueError, UnicodeDecodeError):
        listed = {}
    try:
        known_listed = parse_manifest(known[MANIFEST]) if MANIFEST in known else {}
    except ValueError:
        known_listed = {}
    files: dict[str, str] = {}
    for path in sorted(ROUTE_FILES):
        text = known.get(path)
        if text is not None and listed.get(path) is not None and listed.get(path) == known_listed.get(path):
            files[path] = text
            continue
        data = transport.read_file(f"{serving}/{path}")
        if data is not None:
            files[path] = data.decode(errors="replace")
    return files if ROUTES_MAP in files else None
