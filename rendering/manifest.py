"""The shape of a deployed config tree, shared by the renderer, the deployer, drift and the dashboard.

* `MANIFEST`: `<sha256>  <path>` per file, sorted (the format of `sha256sum -c`); its digest is the
  tree's revision. Incremental deploys and drift checks compare manifests.
* `tree_diff`: the one unified diff of two trees ({path: text}), used by deploy previews, drift,
  deployment pages and rollbacks alike.
* `certificate_path` / `private_key_path` / `is_private_key`: where a site's TLS files sit in a tree;
  a private key is written 0600, sealed (`SEALED_PREFIX` + Fernet token, deploy.secrets) when a
  tree is stored, and tree_diff only ever says "(private key changed, not shown)" about it. Nor does it
  show a live file HostPanel did not write (`hostpanel_paths`: one its live MANIFEST does not list).
  `challenge_dir`: the ACME http-01 directory next to config_dir (outside every release).
* `node_ports` / `node_member_url`: the one node-vhost port rule (node_port_base + the Zope server's
  place among all servers by name), so the renderer, the member toggles and the dashboard agree.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import re
from collections.abc import Iterable

from rendering import cache
from rendering.routes import EDGE_TLS_DIR, RELEASE_FILE, ROUTES_MAP, ROUTES_RECENT, whole_map

MANIFEST = "MANIFEST"
TLS_DIR = "tls"
SEALED_PREFIX = "hostpanel-sealed:"  # a stored private key: this prefix, then its Fernet token
KEY_NOT_SHOWN = "(private key changed, not shown)"
FOREIGN_NOT_SHOWN = "(not written by HostPanel: its content is not shown)"
CHALLENGE_SUFFIX = ".acme-challenge"
DIGEST = re.compile(r"[0-9a-f]{64}")  # a sha256 in hex: a file's, or a tree's (which names its release)
_MANIFEST_LINE = re.compile(rf"^({DIGEST.pattern})  ([A-Za-z0-9._/+-]+)$")


def manifest_text(tree: dict[str, str]) -> str:
    """`<sha256>  <path>` for every file but MANIFEST itself, sorted by path (sha256sum -c format)."""
    lines = []
    for path in sorted(tree):
        if path == MANIFEST:
            continue
        lines.append(f"{text_digest(tree[path])}  {path}\n")
    return "".join(lines)


def seal_tree(tree: dict[str, str], *, key: str | None = None) -> list[str]:
    """Add the release file and the MANIFEST to a rendered tree (in place); returns its paths in order. The
    release file names the release: `hostpanel-release <sha256 of the MANIFEST of every other file>`,
    different for every tree. HostPanel's vhosts serve it at RELEASE_URL_PATH (routing.conf.j2,
    default.conf.j2), so the deployer proves, through each listener, that the answer comes from HostPanel's
    vhost and from THIS release (deploy.release); no other vhost of the front-end can give it.

    `key` (the front-end's name): the lines and order of its last sealed tree are reused for every file
    that is the very same text object (a site's change leaves 30,000 other files of 10,000 HTTPS sites as
    they were: one identity check each, instead of a line and a sort of them all; rendering.cache.SEALS)."""
    previous = cache.SEALS.get(key) if key is not None else None
    skip = (MANIFEST, RELEASE_FILE)
    if previous is None:
        lines = {path: f"{text_digest(text)}  {path}\n" for path, text in tree.items() if path not in skip}
        order = sorted(lines)
    else:
        old_tree, old_lines, old_order = previous
        lines = {}
        for path, text in tree.items():
            if path in skip:
                continue
            line = old_lines.get(path)
            lines[path] = line if line is not None and old_tree.get(path) is text else f"{text_digest(text)}  {path}\n"
        same_paths = len(lines) == len(old_lines) and all(path in lines for path in old_order)
        order = old_order if same_paths else sorted(lines)
    others = "".join([lines[path] for path in order])
    if key is not None:
        cache.SEALS.put(key, (tree.copy(), lines, order), keep=64)
    tree[RELEASE_FILE] = release_text(hashlib.sha256(others.encode("utf-8")).hexdigest())
    release_line = f"{text_digest(tree[RELEASE_FILE])}  {RELEASE_FILE}\n"
    at = bisect.bisect_left(order, RELEASE_FILE)
    tree[MANIFEST] = "".join([*(lines[path] for path in order[:at]), release_line, *(lines[p] for p in order[at:])])
    full = [*order[:at], RELEASE_FILE, *order[at:]]
    return [*full[: bisect.bisect_left(full, MANIFEST)], MANIFEST, *full[bisect.bisect_left(full, MANIFEST) :]]


def release_text(nonce: str) -> str:
    return f"hostpanel-release {nonce}\n"


def text_digest(text: str) -> str:
    """sha256 of a file's text, hashed once, not per render: a large one (the routing map's base, 1 MB)
    and every small one (the 30,000 vhosts, certificates and keys of 10,000 HTTPS sites, which a site's
    change leaves as the very same strings: a lookup by a str whose hash Python keeps is a few hundred ns)."""
    return _large_digest(text) if len(text) >= 65536 else _small_digest(text)


@cache.memoize(maxsize=16)
def _large_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache.memoize(maxsize=1 << 17)  # three front-ends' files at 10,000 HTTPS sites, and then some
def _small_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tree_digest(tree: dict[str, str]) -> str:
    """The revision of a tree: sha256 of its MANIFEST text."""
    manifest = tree.get(MANIFEST)
    if manifest is None:
        manifest = manifest_text(tree)
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def parse_manifest(text: str) -> dict[str, str]:
    """{relative path: sha256} from a MANIFEST; raises ValueError on any malformed line."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.match(line)
        if not match or ".." in match.group(2).split("/") or match.group(2).startswith("/"):
            raise ValueError(f"MANIFEST line {number} is malformed: {line[:120]!r}")
        digest, path = match.groups()
        if path in entries:
            raise ValueError(f"MANIFEST lists {path} twice")
        entries[path] = digest
    return entries


def hostpanel_paths(tree: dict[str, str]) -> set[str]:
    """The files of a tree read from a host that HostPanel wrote: its MANIFEST, when that parses, and the
    files it lists. Anything else there is someone else's: tree_diff shows its name, never its content."""
    try:
        listed = parse_manifest(tree[MANIFEST]) if MANIFEST in tree else {}
    except ValueError:
        return set()
    return {path for path in tree if path == MANIFEST or path in listed}


def changed_files(old: dict[str, str], new: dict[str, str]) -> set[str]:
    """The paths whose text differs between two trees (added, removed or changed): what changed_paths says
    of their MANIFESTs, without parsing them. A file the renderer kept is the very same string, so this is
    a pass over the paths (milliseconds at 30,000 files), not over the texts."""
    changed = {path for path, text in new.items() if (was := old.get(path)) is not text and was != text}
    return changed | {path for path in old if path not in new}


def changed_paths(old_manifest: str, new_manifest: str) -> set[str]:
    """The paths whose content differs between two MANIFESTs (added, removed or changed)."""
    old, new = parse_manifest(old_manifest), parse_manifest(new_manifest)
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


_DIFF_FILE = re.compile(r"^(?:---|\+\+\+) (?:[^/\n]+/)?(?P<path>[^\n]+?)\s*$", re.M)


def diff_paths(diff: str) -> set[str]:
    """The tree paths a tree_diff() text touches (from its ---/+++ headers; /dev/null left out)."""
    return {m["path"] for m in _DIFF_FILE.finditer(diff) if m["path"] not in ("/dev/null", "dev/null")}


def certificate_path(domain: str) -> str:
    return f"{TLS_DIR}/{domain}.crt"


def private_key_path(domain: str) -> str:
    return f"{TLS_DIR}/{domain}.key"


def is_private_key(path: str) -> bool:
    """A file holding a private key: a site's key for mod_ssl (tls/*.key), or an nginx edge's file of a served
    name (edge/tls/*.pem: its certificate, chain and key in one file, so a release holds one file per name)."""
    return (path.startswith(f"{TLS_DIR}/") and path.endswith(".key")) or (
        path.startswith(f"{EDGE_TLS_DIR}/") and path.endswith(".pem")
    )


def edge_pem_path(name: str) -> str:
    """Where an nginx edge finds the certificate, chain and private key of a name it serves (the SNI name)."""
    return f"{EDGE_TLS_DIR}/{name}.pem"


def challenge_dir(config_dir: str) -> str:
    """Where a front-end serves /.well-known/acme-challenge/ from: next to config_dir, in no release, so a
    token is published by writing one file (no configtest, no reload, no new release)."""
    return config_dir.rstrip("/") + CHALLENGE_SUFFIX


def _key_digest(tree: dict[str, str], path: str) -> str | None:
    """What a private key file is, for comparing without showing it: its sha256 (from the tree's MANIFEST
    when the key is sealed: two seals of one key differ, their MANIFEST entries do not)."""
    value = tree.get(path)
    if value is None:
        return None
    if value.startswith(SEALED_PREFIX):
        try:
            return parse_manifest(tree.get(MANIFEST, "")).get(path, value)
        except ValueError:
            return value
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def tree_diff(
    old: dict[str, str],
    new: dict[str, str],
    *,
    old_label: str = "a",
    new_label: str = "b",
    foreign: Iterable[str] = (),
) -> str:
    """Unified diff of two trees, file by file, in path order (MANIFEST last). A private key's content
    is never shown: a changed, added or removed key is one line saying so; nor is that of a `foreign`
    file of `old` (one HostPanel did not write, read from a host: `hostpanel_paths`). The routing map is
    shown as one file, routes.map, its base and overlay merged (rendering.routes.whole_map): the lines a
    change adds and removes, not how the map happens to be split."""
    foreign = set(foreign)
    if ROUTES_RECENT in foreign:
        foreign.add(ROUTES_MAP)  # merged into routes.map below
    old, new = _whole_routes(old), _whole_routes(new)
    paths = sorted(set(old) | set(new), key=lambda p: (p == MANIFEST, p))
    chunks: list[str] = []
    for path in paths:
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        if path in foreign and a is not None:
            tofile = f"{new_label}/{path}" if b is not None else "/dev/null"
            chunks.append(f"--- {old_label}/{path}\n+++ {tofile}\n{FOREIGN_NOT_SHOWN}\n")
            continue
        if is_private_key(path):
            if _key_digest(old, path) != _key_digest(new, path):
                fromfile = f"{old_label}/{path}" if a is not None else "/dev/null"
                tofile = f"{new_label}/{path}" if b is not None else "/dev/null"
                chunks.append(f"--- {fromfile}\n+++ {tofile}\n{KEY_NOT_SHOWN}\n")
            continue
        chunks.extend(
            difflib.unified_diff(
                (a or "").splitlines(keepends=True),
                (b or "").splitlines(keepends=True),
                fromfile=f"{old_label}/{path}" if a is not None else "/dev/null",
                tofile=f"{new_label}/{path}" if b is not None else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks[-1] += "\n"
    return "".join(chunks)


def _whole_routes(tree: dict[str, str]) -> dict[str, str]:
    if ROUTES_RECENT not in tree:
        return tree
    merged = {path: text for path, text in tree.items() if path != ROUTES_RECENT}
    if ROUTES_MAP in tree:
        merged[ROUTES_MAP] = whole_map(tree)
    return merged


def capped_lines(diff: str, *, limit: int, label: str) -> list[str]:
    """A diff as lines for a page, cut at `limit` lines with a note saying so."""
    lines = diff.splitlines()
    if len(lines) > limit:
        return [*lines[:limit], f"… diff of {label} cut at {limit} lines"]
    return lines


def node_ports(server_names: Iterable[str], base: int) -> dict[str, int]:
    """Each Zope server's node-vhost port: `base` + its index among ALL servers by name, so that adding
    a server to or removing it from a balancer never moves another node. Ports above 65535 are left out
    (the renderer refuses such a tree)."""
    return {name: base + index for index, name in enumerate(sorted(server_names))}


def node_member_url(node_address: str, port: int) -> str:
    """A node-vhosts member's worker URL on a front-end (as the renderer writes it)."""
    host = f"[{node_address}]" if ":" in node_address else node_address
    return f"http://{host}:{port}"
