"""Every memo of the hot path (snapshot -> render -> push), in one module, under one rule.

The rule: an entry is used only when its key names everything its value was computed from, so a hit is
right whatever changed since and nothing ever has to be told to invalidate:

- text and tuples of plain values are keys by value (a map's text, a certificate's raw row, a digest);
- records and snapshots are keys by identity, and the entry holds the object itself (so its id is not
  reused while the entry lives): they are immutable, and rendering.journal gives an unchanged row the
  very record of last time, so "the same object" means "the same input";
- the database, the one input that is not in memory, is keyed by the site cache's position in the change
  journal: rendering.journal checks it against the snapshot's own view before every use (and reads
  every site when it is older than FULL_RELOAD_SECONDS). Each snapshot's sites get a new generation
  number; a snapshot carries it, and `genuine()` tells whether its sites are the very tuple read then.

Each memo is bounded: it keeps the entries of the current generation (replaced whole by a full read or a
whole render) or the last few inputs. `clear()` drops them all (tests): the next snapshot reads every site
and the next render builds everything. The one entry that is a hint rather than a memo,
PREVIOUS_TREES, is never trusted as a host's state (deploy.trees.recently_rendered).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "BASE_TEXT",
    "CERTIFICATES",
    "CONTEXTS",
    "GENERATIONS",
    "PREVIOUS_TREES",
    "RENDERED_TREES",
    "SITES",
    "SITE_CACHE",
    "SITE_PARTS",
    "SITE_VHOSTS",
    "EDGE_FILES",
    "SEALS",
    "STORED_BASES",
    "Memo",
    "clear",
    "genuine",
    "memoize",
    "next_generation",
    "produced",
]

_MEMOS: list[Memo] = []
_FUNCTIONS: list[Any] = []  # the functools.lru_cache wrappers of memoize()


class Memo[K: Hashable, V]:
    """One memo: {key: value} under a lock. Readers get the current dict and must not change it; a
    writer puts entries or replaces the dict whole (which is how a memo stays bounded)."""

    def __init__(self, name: str, holds: str) -> None:
        self.name, self.holds = name, holds
        self.lock = threading.RLock()  # also held by a writer that builds an entry others wait for
        self._entries: dict[K, V] = {}
        _MEMOS.append(self)

    def __repr__(self) -> str:
        return f"<Memo {self.name}: {len(self._entries)} entries>"

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def entries(self) -> dict[K, V]:
        """The current entries (read only: put() and replace() are the writers)."""
        with self.lock:
            return self._entries

    def only(self) -> V | None:
        """The value of a memo that keeps one entry (the last one put), or None."""
        with self.lock:
            return next(iter(self._entries.values()), None)

    def put(self, key: K, value: V, *, keep: int | None = None) -> None:
        """Add an entry; with `keep`, only the newest `keep` entries stay."""
        with self.lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            if keep is not None and len(self._entries) > keep:
                self._entries = dict(list(self._entries.items())[-keep:])

    def update(self, entries: dict[K, V]) -> None:
        """Add these entries (in place: a reader's dict sees them, which is safe for lookups)."""
        with self.lock:
            self._entries.update(entries)

    def replace(self, entries: dict[K, V]) -> None:
        """These entries and no others (a full read or a whole render: only the current ones stay)."""
        with self.lock:
            self._entries = entries

    def copy(self) -> dict[K, V]:
        with self.lock:
            return dict(self._entries)

    def clear(self) -> None:
        with self.lock:
            self._entries = {}


# --- the snapshot (rendering.journal, rendering.snapshot) -------------------------------------------

SITE_CACHE: Memo[tuple[str, str], Any] = Memo(
    "site cache", "the sites of the last snapshot and its journal position, by database (one entry)"
)
SITES: Memo[tuple, Any] = Memo("site records", "a site's raw row -> the SiteRecord built from it, current sites only")
CERTIFICATES: Memo[tuple, Any] = Memo(
    "certificate records", "a certificate's raw row -> its CertificateRecord (key decrypted once), current ones only"
)
GENERATIONS: Memo[int, tuple] = Memo("generations", "generation -> the sites tuple read then, the last four")
BASE_TEXT: Memo[str, str] = Memo("routing base", "the routing base's digest -> its text, the last one")

# --- the render (rendering.sites) --------------------------------------------------------------------

CONTEXTS: Memo[int, tuple] = Memo(
    "site contexts", "id(site record) -> (the record, its balancer's signature, its checked context), current sites"
)
SITE_PARTS: Memo[int, Any] = Memo(
    "site part", "id(snapshot) -> the site part every front-end rendered from it shares, the last one"
)

SITE_VHOSTS: Memo[tuple, dict[int, tuple]] = Memo(
    "HTTPS site vhosts",
    "what a site vhost names of its front-end (config_dir, https_listen) -> {id(site context): (the context, "
    "its sites/<domain>.conf text)}, current sites only, the last eight front-end shapes",
)

EDGE_FILES: Memo[str, dict[int, tuple]] = Memo(
    "nginx edge files",
    "'edge' -> {id(site context): (the context, its edge/tls files, its HSTS map lines)}, current sites only",
)

SEALS: Memo[str, tuple] = Memo(
    "sealed trees",
    "front-end name -> (its last rendered tree, {path: its MANIFEST line}, the paths in order), the last render's",
)

# --- the push (deploy.trees) -------------------------------------------------------------------------

RENDERED_TREES: Memo[str, tuple] = Memo(
    "rendered trees", "front-end name -> (snapshot, front-end record, RenderResult) of its last render"
)
PREVIOUS_TREES: Memo[str, dict[str, str]] = Memo(
    "previous trees", "front-end name -> the tree rendered for it before the last one (a hint only)"
)

STORED_BASES: Memo[str, tuple | None] = Memo(
    "stored bases",
    "front-end name -> (ConfigTree pk, its digest, the whole tree stored as that row) its next trees are "
    "stored against (deploy.stored; the row is checked to exist with that digest before each use)",
)

_GENERATION = itertools.count(1)


def next_generation() -> int:
    """A new generation for a snapshot's sites (every snapshot gets one, read whole or incrementally)."""
    return next(_GENERATION)


def produced(generation: int, sites: tuple) -> None:
    """Record the sites tuple a snapshot read as `generation` (rendering.journal)."""
    GENERATIONS.put(generation, sites, keep=4)


def genuine(generation: int, sites: tuple) -> bool:
    """Whether `sites` is the very tuple this process read as `generation` (a snapshot rebuilt with
    dataclasses.replace keeps its generation and delta but not its sites: the renderer must not patch it)."""
    return GENERATIONS.get(generation) is sites


def memoize(maxsize: int) -> Callable[[F], F]:
    """functools.lru_cache for a pure function of values (texts, numbers), registered for clear()."""

    def wrap(function: F) -> F:
        cached = functools.lru_cache(maxsize=maxsize)(function)
        _FUNCTIONS.append(cached)
        return cached  # type: ignore[return-value]

    return wrap


def clear() -> None:
    """Drop every memo (tests): the next snapshot reads every site, the next render builds everything."""
    for memo in _MEMOS:
        memo.clear()
    for function in _FUNCTIONS:
        function.cache_clear()
