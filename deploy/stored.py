"""Stored trees: one `ConfigTree` per distinct rendered tree (rollbacks and diffs), its private keys sealed
(deploy.secrets), its large files (routes.map, the routing map's base: 1 MB at 10,000 sites)
kept once by content as `ConfigBlob`s. Every tree since the last rebase shares the same base, so storing
a site's change writes a few KB, not a megabyte per front-end. Also the routing map's current base
(`RoutesBase`), which the renderer splits every map against (rendering.routes.split_map).

A front-end's trees are stored as their changes against the last whole tree of that front-end this process
stored (`ConfigTree.base`; its tree kept in rendering.cache.STORED_BASES): a map-only change at 10,000
HTTPS sites writes a handful of files and the MANIFEST lines that changed, and seals (encrypts) only the
private keys that changed, instead of 30,000 files and 10,000 keys per front-end. Past REBASE_FILES changes
(or in a new process) the tree is stored whole again and becomes the next base. Reading composes base and
changes and checks the result against the tree's digest."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction

from balancers.models import ConfigBlob, ConfigTree, RoutesBase
from deploy.secrets import seal_tree
from deploy.swap import digest_of
from rendering import cache
from rendering.manifest import MANIFEST, is_private_key, parse_manifest, text_digest

BLOB_MIN_CHARS = 64 * 1024  # a file this large (never a private key) is a blob
REBASE_FILES = 512  # changes (files changed, added or removed) against the base past which a tree is stored whole


def _digest(text: str, listed: dict[str, str], path: str) -> str:
    return listed.get(path) or hashlib.sha256(text.encode()).hexdigest()


def save_blob(text: str, digest: str = "") -> str:
    """The blob of `text` (stored once), by its digest."""
    digest = digest or hashlib.sha256(text.encode()).hexdigest()
    if not ConfigBlob.objects.filter(digest=digest).exists():
        ConfigBlob.objects.get_or_create(digest=digest, defaults={"text": text})
    return digest


def _split(files: dict[str, str], listed: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(small files with keys sealed, {path: blob digest} of the large ones, stored once by content)."""
    small, blobs = {}, {}
    for path, text in seal_tree(files).items():
        if len(text) >= BLOB_MIN_CHARS and not is_private_key(path) and path != MANIFEST:
            blobs[path] = save_blob(text, _digest(text, listed, path))
        else:
            small[path] = text
    return small, blobs


def tree_changes(base: dict[str, str], tree: dict[str, str]) -> tuple[dict[str, str], list[str]] | None:
    """(the files of `tree` that differ from `base` or are new, the paths it no longer has), MANIFEST left
    out; None past REBASE_FILES changes. A file the renderer kept is the very same string: compared by
    identity first, so this is a pass over the paths, not over the texts."""
    changed: dict[str, str] = {}
    for path, text in tree.items():
        old = base.get(path)
        if path != MANIFEST and old is not text and old != text:
            changed[path] = text
            if len(changed) > REBASE_FILES:
                return None
    removed = sorted(path for path in base if path not in tree)
    return (changed, removed) if len(changed) + len(removed) <= REBASE_FILES else None


def store_tree(tree: dict[str, str], lineage: str = "") -> ConfigTree:
    """The tree as a ConfigTree row (one per digest), its keys sealed, its large files as blobs. With a
    `lineage` (the front-end's name), stored as its changes against that lineage's last whole tree when
    there is one (module docstring)."""
    digest = digest_of(tree)
    stored = ConfigTree.objects.filter(digest=digest).only("pk", "digest").first()
    if stored is not None:
        return stored
    if lineage and (delta := _store_delta(tree, digest, lineage)) is not None:
        return delta
    try:
        listed = parse_manifest(tree[MANIFEST]) if MANIFEST in tree else {}
    except ValueError:
        listed = {}
    files, blobs = _split(tree, listed)
    stored, created = ConfigTree.objects.get_or_create(digest=digest, defaults={"files": files, "blobs": blobs})
    if lineage and stored.base_id is None:
        cache.STORED_BASES.put(lineage, (stored.pk, digest, tree), keep=16)
    return stored


def _store_delta(tree: dict[str, str], digest: str, lineage: str) -> ConfigTree | None:
    """The tree stored as its changes against the lineage's base, or None (no base, too many changes,
    the base row gone: the caller stores it whole)."""
    remembered = cache.STORED_BASES.get(lineage)
    if remembered is None or MANIFEST not in tree:
        return None
    base_pk, base_digest, base_tree = remembered
    changes = tree_changes(base_tree, tree)
    if changes is None:
        return None
    changed, removed = changes
    manifest = {path: text_digest(text) for path, text in changed.items()}
    files, blobs = _split(changed, manifest)
    if not ConfigTree.objects.filter(pk=base_pk, digest=base_digest, base__isnull=True).exists():
        cache.STORED_BASES.put(lineage, None)  # cleaned up since: the next whole tree is the new base
        return None
    try:
        with transaction.atomic():
            stored, _ = ConfigTree.objects.get_or_create(
                digest=digest,
                defaults={
                    "files": files,
                    "blobs": blobs,
                    "base_id": base_pk,
                    "delta": {"removed": removed, "manifest": manifest},
                },
            )
    except IntegrityError:  # the base went away between the check and the insert
        return None
    return stored


def _whole(row: ConfigTree, texts: dict[str, str]) -> dict[str, str]:
    files = dict(row.files)
    for path, digest in (row.blobs or {}).items():
        if digest not in texts:
            raise ConfigBlob.DoesNotExist(f"stored tree {row.digest[:12]}: the blob of {path} is gone")
        files[path] = texts[digest]
    return files


def _apply(base: dict[str, str], row: ConfigTree, texts: dict[str, str]) -> dict[str, str]:
    """The base's files with the row's changes; its MANIFEST rebuilt and checked against the row's digest."""
    delta = row.delta or {}
    removed = set(delta.get("removed", []))
    files = {path: text for path, text in base.items() if path not in removed}
    files.update(_whole(row, texts))
    listed = {path: sha for path, sha in parse_manifest(base[MANIFEST]).items() if path not in removed}
    listed.update(delta.get("manifest", {}))
    files[MANIFEST] = "".join(f"{listed[path]}  {path}\n" for path in sorted(listed))
    if hashlib.sha256(files[MANIFEST].encode()).hexdigest() != row.digest:
        raise ConfigTree.DoesNotExist(f"stored tree {row.digest[:12]}: its changes do not give its MANIFEST")
    return files


def stored_files_many(trees: list[ConfigTree]) -> dict[int, dict[str, str]]:
    """{tree id: every file of it (keys still sealed)}: the bases and the blobs of all of them read in one
    query each."""
    wanted_bases = {tree.base_id for tree in trees if tree.base_id is not None} - {tree.pk for tree in trees}
    bases = {row.pk: row for row in trees}
    if wanted_bases:
        bases.update({row.pk: row for row in ConfigTree.objects.filter(pk__in=wanted_bases)})
    rows = list(bases.values())
    wanted = {digest for tree in rows for digest in (tree.blobs or {}).values()}
    texts = dict(ConfigBlob.objects.filter(digest__in=wanted).values_list("digest", "text")) if wanted else {}
    whole: dict[int, dict[str, str]] = {}
    for row in rows:
        if row.base_id is None:
            whole[row.pk] = _whole(row, texts)
    out: dict[int, dict[str, str]] = {}
    for tree in trees:
        if tree.base_id is None:
            files = whole[tree.pk]
        elif tree.base_id in whole:
            files = _apply(whole[tree.base_id], tree, texts)
        else:
            raise ConfigTree.DoesNotExist(f"stored tree {tree.digest[:12]}: its base tree is gone")
        out[tree.pk] = dict(sorted(files.items()))
    return out


def stored_files(tree: ConfigTree) -> dict[str, str]:
    """Every file of one stored tree (keys still sealed: deploy.secrets.open_tree opens them)."""
    return stored_files_many([tree])[tree.pk]


def routes_base_set(text: str) -> None:
    """Make `text` (a whole routes.map) the base later renders split against."""
    digest = save_blob(text)
    blob = ConfigBlob.objects.get(digest=digest)
    RoutesBase.objects.update_or_create(pk=1, defaults={"blob": blob})


def referenced_blobs() -> set[str]:
    """Digests of the blobs some stored tree or the routing base still needs (cleanup keeps them)."""
    used = {digest for blobs in ConfigTree.objects.values_list("blobs", flat=True) for digest in (blobs or {}).values()}
    used |= set(RoutesBase.objects.values_list("blob__digest", flat=True))
    return used
