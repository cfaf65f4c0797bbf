"""The file work of a release on a front-end (pure Transport calls, no database): build a release as a
hard-linked copy of the previous one plus only the changed files, switch config_dir (a symlink) to it
and back, and prune old releases."""

from __future__ import annotations

import logging
import posixpath
import time

from balancers.manifest import MANIFEST, is_private_key, parse_manifest, text_digest
from balancers.transport import Transport, TransportError

log = logging.getLogger(__name__)

KEEP_RELEASES = 5  # current, previous and a few more for quick rollbacks

PRIVATE_KEY_MODE = 0o600  # Apache's parent reads keys as root before it drops privileges


def resolve(link_parent: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(link_parent, target))


class Swapper:
    """Points config_dir at a release and can put the previous one back."""

    def __init__(self, transport: Transport, config_dir: str, releases_dir: str) -> None:
        self.transport = transport
        self.config_dir = config_dir
        self.releases_dir = releases_dir
        self.previous: str | None = None  # the release to go back to; None: there was no config_dir
        self.swapped = False

    def prepare(self, *, prefer: str = "") -> None:
        """Find the release to go back to: `prefer` (the last ACTIVATED release, when it is still on
        disk) rather than whatever config_dir points at now (which a stopped worker may have left on an
        unchecked release); a hand-made config directory is kept as a release."""
        t, live = self.transport, self.config_dir
        self.previous = t.readlink(live)
        if self.previous is None and t.exists(live):
            # First deploy onto a hand-made directory: keep it as a release and manage a symlink from now on.
            legacy = f"{self.releases_dir}/legacy-{time.strftime('%Y%m%d%H%M%S')}"
            t.rename(live, legacy)
            t.symlink_switch(live, legacy)
            self.previous = legacy
        if prefer:
            self.previous = prefer

    def previous_path(self) -> str | None:
        return resolve(posixpath.dirname(self.config_dir), self.previous) if self.previous else None

    def switch(self, release: str) -> None:
        self.swapped = True  # from the first byte sent: a dropped connection may still have switched it
        self.transport.symlink_switch(self.config_dir, release)

    def restore(self, transport: Transport | None = None) -> None:
        t = transport or self.transport
        if self.previous is None:
            t.remove_path(self.config_dir)
        else:
            t.symlink_switch(self.config_dir, self.previous)
        self.swapped = False


def build_release(
    transport: Transport, base: str | None, tree: dict[str, str], staging: str, outcome, staging_prefix: str
) -> None:
    """Fill `staging` with the full tree: a hard-linked copy of release `base` (if any) plus the files
    that differ from it (by its own MANIFEST), minus the files the tree no longer has."""
    releases = posixpath.dirname(staging)
    for name, _ in transport.list_entries(releases):
        if name.startswith(staging_prefix):  # left over by a dropped connection
            transport.remove_path(f"{releases}/{name}")
    live: dict[str, str] = {}
    base_manifest = transport.read_file(f"{base}/{MANIFEST}") if base else None
    if base_manifest is not None:
        try:
            live = parse_manifest(base_manifest.decode())
        except (ValueError, UnicodeDecodeError):
            live = {}
    try:  # the tree's own digests (the routing map's base is 1 MB: not hashed again per host)
        listed = parse_manifest(tree[MANIFEST]) if MANIFEST in tree else {}
    except ValueError:
        listed = {}
    changed: dict[str, bytes] = {}
    for path in sorted(tree):
        if path != MANIFEST and live and live.get(path) == (listed.get(path) or text_digest(tree[path])):
            continue
        changed[path] = tree[path].encode()
    removed = sorted(set(live) - set(tree)) if live else []
    # a removed site's certificate and key go with its vhost (the copy of the live release drops them)
    modes = {path: PRIVATE_KEY_MODE for path in changed if is_private_key(path)}
    transport.build_tree(staging, changed, base=base if live else None, remove=removed, modes=modes)
    outcome.files_uploaded = len(changed)
    outcome.bytes_uploaded = sum(len(data) for data in changed.values())
    outcome.uploaded_paths = list(changed)


def prune_releases(transport: Transport, releases: str, keep: set[str | None]) -> None:
    """Remove old releases beyond KEEP_RELEASES (never the live or the previous one). Best effort."""
    try:
        keep_paths = {k for k in keep if k}
        candidates = [
            (mtime, name)
            for name, mtime in transport.list_entries(releases)
            if not name.startswith(".") and f"{releases}/{name}" not in keep_paths
        ]
        surplus = len(candidates) - max(0, KEEP_RELEASES - len(keep_paths))
        for _, name in sorted(candidates)[: max(0, surplus)]:
            transport.remove_path(f"{releases}/{name}")
    except TransportError as exc:
        log.warning("pruning old releases in %s failed: %s", releases, exc)
