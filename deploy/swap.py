"""The file work of a release on a front-end (pure Transport calls, no database): build a release as a
hard-linked copy of the previous one plus only the changed files, switch config_dir (a symlink) to it
and back, and prune old releases.

The copy is the one O(files) step of a release (30,000 hard links at 10,000 HTTPS sites): once a release is
activated, a spare copy of it is built off the deployment's path (`.spare-<its digest>`, after_activation;
in the background on an SSH host, together with the removal of pruned releases), and the next release built
on it takes that spare (renamed) instead of copying, when it is that release's untouched copy
(deploy.transport.protocol.Spare); else it copies as before.

Only what HostPanel wrote is ever moved or deleted: a directory at config_dir is kept as a release only
when it is empty or its MANIFEST lists every file in it with that file's digest (else the deploy is
refused, ForeignFiles); pruning and the clean-up of staging leftovers touch only names HostPanel gives."""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import time

from deploy.transport.protocol import TRASH_PREFIX, ManifestPatch, Spare, Transport, TransportError
from rendering.manifest import (
    DIGEST,
    MANIFEST,
    changed_files,
    is_private_key,
    parse_manifest,
    text_digest,
    tree_digest,
)
from rendering.routes import EDGE_TLS_DIR

log = logging.getLogger(__name__)

KEEP_RELEASES = 5  # current, previous and a few more for quick rollbacks

PRIVATE_KEY_MODE = 0o600  # Apache's parent reads keys as root before it drops privileges
# an nginx edge's workers read them at each handshake: the deploy user's group (README "HTTPS at scale")
EDGE_PRIVATE_KEY_MODE = 0o640

# The releases HostPanel creates in <config_dir>.releases: a tree's digest, or a kept config directory.
RELEASE_NAME = re.compile(rf"{DIGEST.pattern}|legacy-[0-9]{{14}}")
STAGING_SUFFIX = re.compile(r"[0-9a-f]{16}-[0-9a-f]{8}")  # after the staging prefix (deploy.release)
MANIFEST_PATCH_MAX = 1000  # paths changed: past this the whole MANIFEST is sent
SPARE_PREFIX = ".spare-"
# a spare (complete: only a whole copy gets this name), one being built, or what a spare build discarded
SPARE_LEFTOVER = re.compile(rf"\.spare-{DIGEST.pattern}(\.tmp-[0-9a-f]{{8}})?|{re.escape(TRASH_PREFIX)}[0-9a-f]{{12}}")
FOREIGN_NAMES_SHOWN = 5


class ForeignFiles(TransportError):
    """config_dir is a directory (or file) holding files HostPanel did not write: never moved, never deleted."""

    def __init__(self, path: str, names: list[str]) -> None:
        shown = ", ".join(names[:FOREIGN_NAMES_SHOWN]) + (" …" if len(names) > FOREIGN_NAMES_SHOWN else "")
        super().__init__(
            f"{path} holds files HostPanel did not write ({shown}); move them away (or have a superuser point "
            "config_dir at another directory) and deploy again. A deploy never moves or deletes them.",
            retryable=False,
        )


def foreign_files(transport: Transport, path: str) -> list[str]:
    """The files in directory `path` that HostPanel did not write: every one unless a MANIFEST that parses
    lists it with its content's digest ([] for an empty directory or one HostPanel wrote)."""
    if not transport.is_dir(path):
        return [posixpath.basename(path)]  # a file where config_dir should be
    names = transport.list_dir(path)
    if not names:
        return []
    manifest = transport.read_file(f"{path}/{MANIFEST}")
    try:
        listed = parse_manifest(manifest.decode()) if manifest is not None else None
    except (ValueError, UnicodeDecodeError):
        listed = None
    if listed is None:  # not read further: a directory that is not HostPanel's may be large
        return names
    return sorted(
        name
        for name, data in transport.read_tree(path).items()
        if name != MANIFEST and listed.get(name) != hashlib.sha256(data).hexdigest()
    )


def digest_of(tree: dict[str, str]) -> str:
    """rendering.manifest.tree_digest, hashed once per MANIFEST text (text_digest memoises it): a deployment
    asks for it several times per host, and at 10,000 HTTPS sites the MANIFEST is 2.7 MB."""
    manifest = tree.get(MANIFEST)
    return text_digest(manifest) if manifest is not None else tree_digest(tree)


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

    def prepare(self, link: str | None, *, prefer: str = "") -> None:
        """Find the release to go back to: `prefer` (the last ACTIVATED release, when it is still on
        disk) rather than `link`, whatever config_dir points at now (as deploy.plan read it: a stopped
        worker may have left it on an unchecked release); a directory HostPanel wrote (or an empty one) is
        kept as a release, one holding anything else is refused (ForeignFiles)."""
        t, live = self.transport, self.config_dir
        self.previous = link
        if self.previous is None and t.exists(live):
            foreign = foreign_files(t, live)
            if foreign:
                raise ForeignFiles(live, foreign)
            # First deploy onto a plain directory: keep it as a release and manage a symlink from now on.
            t.mkdir_p(self.releases_dir)
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
    transport: Transport,
    base: str | None,
    tree: dict[str, str],
    staging: str,
    outcome,
    staging_prefix: str,
    base_tree: dict[str, str] | None = None,
    base_changed: set[str] | None = None,
) -> None:
    """Fill `staging` with the full tree: a hard-linked copy of release `base` (if any) plus the files
    that differ from it (by its own MANIFEST), minus the files the tree no longer has. `base_tree`: the
    tree release `base` carries (deploy.plan.HostPlan.live_tree, checked by its MANIFEST's digest on the
    host): compared with the new tree in memory instead of reading and parsing the base's MANIFEST;
    `base_changed`: that comparison when the caller made it already (deploy.plan.HostPlan.live_changed)."""
    releases = posixpath.dirname(staging)
    for name, _ in transport.list_entries(releases):
        if name.startswith(staging_prefix) and STAGING_SUFFIX.fullmatch(name[len(staging_prefix) :]):
            # left over by a dropped connection
            transport.remove_path(f"{releases}/{name}")
    if base and base_tree is not None and MANIFEST in base_tree:
        differ = sorted((base_changed if base_changed is not None else changed_files(base_tree, tree)) | {MANIFEST})
        gone = sorted(path for path in base_tree if path not in tree)
        changed_now = {path: tree[path].encode() for path in differ if path in tree}
        patch = manifest_patch(tree, differ, gone)
        _unpack(transport, staging, changed_now, base, gone, outcome, spare_of(base, base_tree), patch)
        return
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
    spare = spare_of(base, live) if base and live else None
    _unpack(transport, staging, changed, base if live else None, removed, outcome, spare)


def manifest_patch(tree: dict[str, str], differ: list[str], gone: list[str]) -> ManifestPatch | None:
    """The tree's MANIFEST as a patch of its base's (`differ`: the paths that differ from the base, `gone`:
    those it no longer has), when the change is small (MANIFEST_PATCH_MAX paths)."""
    paths = [path for path in differ if path != MANIFEST]
    if MANIFEST not in tree or len(paths) + len(gone) > MANIFEST_PATCH_MAX:
        return None
    # as seal_tree writes them, in its order (by path: the host merges them into the base's lines)
    add = "".join(f"{text_digest(tree[path])}  {path}\n" for path in sorted(paths) if path in tree)
    return ManifestPatch(drop=tuple(sorted({*paths, *gone})), add=add, digest=digest_of(tree))


def spare_path(release: str) -> str:
    return f"{posixpath.dirname(release)}/{SPARE_PREFIX}{posixpath.basename(release)}"


def spare_of(base: str, base_files: dict[str, str]) -> Spare | None:
    """The spare copy release `base` may have (after_activation), with what proves it its copy: the base's
    digest and the directories of its tree (`base_files`: its files, by its MANIFEST or the known tree)."""
    digest = posixpath.basename(base)
    if not DIGEST.fullmatch(digest):  # a kept config directory (legacy-…): never given a spare
        return None
    parents = {path.rpartition("/")[0] for path in base_files}  # few: sites, tls, …
    dirs = {"."}
    for parent in parents:
        while parent:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    return Spare(path=spare_path(base), base=base, digest=digest, dirs=tuple(sorted(dirs)))


def _unpack(
    transport: Transport,
    staging: str,
    changed: dict[str, bytes],
    base,
    removed: list[str],
    outcome,
    spare: Spare | None = None,
    patch: ManifestPatch | None = None,
) -> None:
    # a removed site's certificate and key go with its vhost (the copy of the live release drops them)
    modes = {
        path: EDGE_PRIVATE_KEY_MODE if path.startswith(EDGE_TLS_DIR + "/") else PRIVATE_KEY_MODE
        for path in changed
        if is_private_key(path)
    }
    taken = transport.build_tree(staging, changed, base=base, remove=removed, modes=modes, spare=spare, manifest=patch)
    outcome.spare_taken = bool(taken)
    outcome.files_uploaded = len(changed)
    outcome.bytes_uploaded = sum(len(data) for data in changed.values())
    outcome.uploaded_paths = list(changed)


def releases_to_prune(entries: list[tuple[str, float]], releases: str, keep: set[str | None]) -> list[str]:
    """The oldest releases beyond KEEP_RELEASES (never one of `keep`: the live and the previous one; never an
    entry whose name HostPanel does not give: RELEASE_NAME)."""
    keep_paths = {k for k in keep if k}
    candidates = [
        (mtime, name)
        for name, mtime in entries
        if RELEASE_NAME.fullmatch(name) and f"{releases}/{name}" not in keep_paths
    ]
    surplus = len(candidates) - max(0, KEEP_RELEASES - len(keep_paths))
    return [f"{releases}/{name}" for _, name in sorted(candidates)[: max(0, surplus)]]


def prune_releases(transport: Transport, releases: str, keep: set[str | None]) -> None:
    """Remove old releases beyond KEEP_RELEASES (releases_to_prune), now. Best effort."""
    try:
        for path in releases_to_prune(transport.list_entries(releases), releases, keep):
            transport.remove_path(path)
    except TransportError as exc:
        log.warning("pruning old releases in %s failed: %s", releases, exc)


def after_activation(transport: Transport, release: str, keep: set[str | None]) -> None:
    """Once `release` is activated: prune old releases (releases_to_prune) and build the spare copy of
    `release` for the next release (replacing any other spare and what earlier spare builds left), both
    off the deployment's path where the transport can (Transport.make_spare). Best effort: a missing
    spare costs the next release a copy, nothing else."""
    releases = posixpath.dirname(release)
    try:
        entries = transport.list_entries(releases)
        discard = releases_to_prune(entries, releases, keep | {release})
        discard += [f"{releases}/{name}" for name, _ in entries if SPARE_LEFTOVER.fullmatch(name)]
        transport.make_spare(release, spare_path(release), discard=discard)
    except TransportError as exc:
        log.warning("pruning old releases and the spare copy in %s failed: %s", releases, exc)
