"""Stored trees: one `ConfigTree` per distinct rendered tree (rollbacks and diffs), its private keys sealed
(deploy.secrets), its large files (routes.map, the routing map's base: 1 MB at 10,000 sites)
kept once by content as `ConfigBlob`s. Every tree since the last rebase shares the same base, so storing
a site's change writes a few KB, not a megabyte per front-end. Also the routing map's current base
(`RoutesBase`), which the renderer splits every map against (rendering.routes.split_map)."""

from __future__ import annotations

import hashlib

from balancers.models import ConfigBlob, ConfigTree, RoutesBase
from deploy.secrets import seal_tree
from rendering.manifest import MANIFEST, is_private_key, parse_manifest, tree_digest

BLOB_MIN_CHARS = 64 * 1024  # a file this large (never a private key) is a blob


def _digest(text: str, listed: dict[str, str], path: str) -> str:
    return listed.get(path) or hashlib.sha256(text.encode()).hexdigest()


def save_blob(text: str, digest: str = "") -> str:
    """The blob of `text` (stored once), by its digest."""
    digest = digest or hashlib.sha256(text.encode()).hexdigest()
    if not ConfigBlob.objects.filter(digest=digest).exists():
        ConfigBlob.objects.get_or_create(digest=digest, defaults={"text": text})
    return digest


def store_tree(tree: dict[str, str]) -> ConfigTree:
    """The tree as a ConfigTree row (one per digest), its keys sealed, its large files as blobs."""
    digest = tree_digest(tree)
    stored = ConfigTree.objects.filter(digest=digest).only("pk", "digest").first()
    if stored is not None:
        return stored
    try:
        listed = parse_manifest(tree[MANIFEST]) if MANIFEST in tree else {}
    except ValueError:
        listed = {}
    files, blobs = {}, {}
    for path, text in seal_tree(tree).items():
        if len(text) >= BLOB_MIN_CHARS and not is_private_key(path) and path != MANIFEST:
            blobs[path] = save_blob(text, _digest(text, listed, path))
        else:
            files[path] = text
    stored, _ = ConfigTree.objects.get_or_create(digest=digest, defaults={"files": files, "blobs": blobs})
    return stored


def stored_files_many(trees: list[ConfigTree]) -> dict[int, dict[str, str]]:
    """{tree id: every file of it (keys still sealed)}, the blobs of all of them read in one query."""
    wanted = {digest for tree in trees for digest in (tree.blobs or {}).values()}
    texts = dict(ConfigBlob.objects.filter(digest__in=wanted).values_list("digest", "text")) if wanted else {}
    out: dict[int, dict[str, str]] = {}
    for tree in trees:
        files = dict(tree.files)
        for path, digest in (tree.blobs or {}).items():
            if digest not in texts:
                raise ConfigBlob.DoesNotExist(f"stored tree {tree.digest[:12]}: the blob of {path} is gone")
            files[path] = texts[digest]
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
