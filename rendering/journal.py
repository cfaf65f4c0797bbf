"""The per-site part of the snapshot (rendering.snapshot): every site's record, read incrementally.

A process keeps the records of its last snapshot and the position it had in the change journal
(sites.models.SiteChange, filled by database triggers on the site, alias and certificate tables: a
`QuerySet.update()` or raw SQL is journaled too), in rendering.cache.SITE_CACHE. The next snapshot
reads only the journal rows since then and the rows of the sites they name, so one site's change costs
a few small queries, not 10,000 rows. An unchanged row keeps giving the very record object of before
(the renderer keeps its per-site work by record identity).

The cache is used only when the snapshot's own view of the database contains everything the cache was
built from, so a snapshot never mixes states:

- SQLite has one writer at a time, so journal ids commit in order: the view must still hold the cache's
  last journal row (same id and random token: a rollback or a flush that took it away, and a reused id,
  are told apart);
- PostgreSQL commits ids out of order, so each row carries its transaction id: every transaction older
  than the cache's horizon (pg_snapshot_xmin when it was read) has ended, the view must be at least that
  new and see every later transaction the cache applied (pg_visible_in_snapshot), and the rows of every
  transaction from the horizon on are read again.

Anything else (no cache, another database, a balancer renamed, more than MAX_INCREMENTAL_SITES changed
sites, a cache older than FULL_RELOAD_SECONDS: the journal is pruned after a day) reads every site.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from certificates.choices import CertificateStatus
from certificates.crypto import decrypt_secret
from certificates.models import Certificate
from certificates.validation import covers as name_covered
from rendering import cache
from sites.choices import SiteKind, SiteStatus, SiteTls
from sites.models import Site, SiteAlias, SiteChange

FULL_RELOAD_SECONDS = 600.0
MAX_INCREMENTAL_SITES = 1000
_SITE_FIELDS = (
    "id",
    "domain",
    "balancer",
    "plone_path",
    "status",
    "tls",
    "https_redirect",
    "hsts_seconds",
    "manage_access",
    "blocked_methods",
    "passthrough_paths",
    "edit_host",
    "kind",
    "frontend_balancer",
    "classic_ui_path",
)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """A live certificate as the front-ends serve it: leaf + chain, and the (decrypted) key."""

    serial: str
    fullchain_pem: str
    key_pem: str = field(repr=False)
    names: tuple[str, ...] = ()  # the names it covers
    unreachable: tuple[str, ...] = ()  # the site's names left out because they do not point at us
    expired: bool = False  # still served until replaced, but no redirect or HSTS sends clients to it

    def served(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `names` (the site's own) that the certificate covers, exactly or by a wildcard (RFC 6125:
        one left-most label): the only names its HTTPS vhost may answer for."""
        return tuple(name for name in names if any(name_covered(pattern, name) for pattern in self.names))

    def covers(self, names: tuple[str, ...]) -> bool:
        """Whether every one of `names` is covered by the certificate (or does not reach us anyway)."""
        return all(name in self.unreachable or self.served((name,)) for name in names)


@dataclass(frozen=True, slots=True)
class SiteRecord:
    domain: str
    balancer: str  # the balancer's name
    plone_path: str
    status: str = SiteStatus.ACTIVE
    aliases: tuple[str, ...] = ()
    tls: str = SiteTls.NONE
    https_redirect: bool = True
    hsts_seconds: int = 0
    certificate: CertificateRecord | None = None  # only when tls is not "none" and a certificate is live
    # site options (README "Site options"); the renderer checks them again (rendering.values)
    manage_access: str = "public"
    blocked_methods: tuple[str, ...] = ()
    passthrough_paths: tuple[str, ...] = ()
    edit_host: str = ""
    # Plone 6 (sites.Site.kind): how the site is served; the frontend balancer's name ("" for Classic UI)
    kind: str = SiteKind.CLASSIC
    frontend_balancer: str = ""
    classic_ui_path: str = ""

    @property
    def is_suspended(self) -> bool:
        return self.status == SiteStatus.SUSPENDED


@dataclass
class _Cache:
    """One process's sites as of its last snapshot, and where that snapshot was in the journal."""

    db: tuple[str, str]
    balancer_names: dict[int, str]
    records: dict[int, SiteRecord]  # by site id
    ordered: list[SiteRecord]  # by domain
    domains: list[str]  # ordered's domains (bisect)
    last: tuple[int, int]  # (id, token) of the newest journal row seen; (0, 0): none
    horizon: int  # PostgreSQL: every transaction below it had ended; SQLite: 0
    applied: tuple[int, ...]  # PostgreSQL: the transactions from the horizon on whose rows are in
    loaded_at: float
    generation: int


@dataclass(frozen=True)
class SitesRead:
    sites: tuple[SiteRecord, ...]
    generation: int  # of this process's site cache; a new one for every snapshot
    # (generation of the snapshot before, domains added, removed or changed since), None: all read again
    delta: tuple[int, frozenset[str]] | None


def _rows(model, *fields: str) -> list[tuple]:
    """Every row of a model's table, the given fields only, straight from the cursor: for the per-site
    tables (10,000 rows) the ORM's per-row work (converters, model iteration) costs more than the query.
    The SQL is built from the model's own metadata (table and column names), never from input."""
    ops = connection.ops
    columns = ", ".join(ops.quote_name(model._meta.get_field(name).column) for name in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {ops.quote_name(model._meta.db_table)}")  # noqa: S608 - metadata only
        return cursor.fetchall()


def _certificates(site_ids: set[int] | None = None) -> dict[int, CertificateRecord]:
    """The live certificate of every site (or of these sites) whose tls is not "none", by site id (one
    query). A row seen before gives the record built then (its key is not decrypted again)."""
    rows = Certificate.objects.exclude(site__tls=SiteTls.NONE).exclude(certificate_pem="")
    rows = rows.exclude(private_key_encrypted="").order_by()
    if site_ids is not None:
        rows = rows.filter(site_id__in=site_ids)
    fields = ("site_id", "serial", "certificate_pem", "chain_pem", "private_key_encrypted", "names", "missing_names")
    known = cache.CERTIFICATES.entries()
    found: dict[int, CertificateRecord] = {}
    kept: dict[tuple, CertificateRecord] = {}
    for site_id, serial, leaf, chain, key, names, missing, status in rows.values_list(*fields, "status"):
        raw = (serial, leaf, chain, key, tuple(names or ()), tuple(missing or ()), status)
        record = known.get(raw)
        if record is None:
            leaf, chain = leaf.strip(), chain.strip()
            record = CertificateRecord(
                serial=serial,
                fullchain_pem=f"{leaf}\n{chain}\n" if chain else f"{leaf}\n",
                key_pem=decrypt_secret(key).decode("ascii"),
                names=raw[4],
                unreachable=raw[5],
                expired=status == CertificateStatus.EXPIRED,
            )
        kept[raw] = found[site_id] = record
    if site_ids is None:
        cache.CERTIFICATES.replace(kept)  # a full read keeps only the current certificates: bounded
    else:
        cache.CERTIFICATES.update(kept)
    return found


def _records(rows, balancer_names, aliases, certificates, known) -> dict[int, SiteRecord]:
    out: dict[int, SiteRecord] = {}
    for pk, domain, balancer_id, plone_path, status, tls, https_redirect, hsts_seconds, *options in rows:
        manage_access, blocked_methods, passthrough_paths, edit_host, kind, frontend_id, classic_ui_path = options
        raw = (
            domain,
            balancer_names[balancer_id],
            plone_path,
            status,
            tuple(sorted(aliases.get(pk, ()))),
            tls,
            bool(https_redirect),  # SQLite answers 0/1
            hsts_seconds,
            certificates.get(pk),  # the same record while its row is unchanged (_certificates)
            manage_access,
            _json_list(blocked_methods),
            _json_list(passthrough_paths),
            edit_host,
            kind,
            balancer_names[frontend_id] if frontend_id is not None else "",
            classic_ui_path,
        )
        record = known.get(raw)
        out[pk] = record if record is not None else SiteRecord(*raw)
    return out


def _json_list(value: object) -> tuple:
    """A JSON list column as a tuple: the raw cursor gives its text (SQLite) or the list (psycopg); anything
    that is not a list of text is kept as is for the renderer to refuse (rendering.values)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return (value,)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(item if isinstance(item, str) else repr(item) for item in items)  # hashable: records are interned


def _intern(records: dict[int, SiteRecord], *, full: bool) -> None:
    """Remember each record by its raw row: an unchanged row gives the SAME record next time."""
    kept = {_raw(record): record for record in records.values()}
    if full:
        cache.SITES.replace(kept)  # a full read keeps only the current sites: bounded
    else:
        cache.SITES.update(kept)


def _raw(record: SiteRecord) -> tuple:
    return (
        record.domain,
        record.balancer,
        record.plone_path,
        record.status,
        record.aliases,
        record.tls,
        record.https_redirect,
        record.hsts_seconds,
        record.certificate,
        record.manage_access,
        record.blocked_methods,
        record.passthrough_paths,
        record.edit_host,
        record.kind,
        record.frontend_balancer,
        record.classic_ui_path,
    )


# --- the journal ------------------------------------------------------------------------------------


def _one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _head() -> tuple[int, int]:
    row = _one("SELECT id, token FROM sites_sitechange ORDER BY id DESC LIMIT 1")
    return (row[0], row[1]) if row else (0, 0)


def _pg_xmin() -> int:
    return _one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0]


def _pg_pending(horizon: int) -> tuple[int, ...]:
    """The transactions from `horizon` on whose journal rows this view sees."""
    rows = SiteChange.objects.filter(xact__gte=horizon).order_by().values_list("xact", flat=True).distinct()
    return tuple(sorted({xact for xact in rows if xact is not None}))  # the filter leaves no NULL


def _covers(held: _Cache) -> bool:
    """Whether this view of the database holds everything the cache was built from."""
    if held.db != _db() or held.last == (0, 0) or time.monotonic() - held.loaded_at > FULL_RELOAD_SECONDS:
        return False
    row = _one("SELECT token FROM sites_sitechange WHERE id = %s", [held.last[0]])
    if row is None or row[0] != held.last[1]:
        return False
    if connection.vendor != "postgresql":
        return True
    if _pg_xmin() < held.horizon:
        return False
    if not held.applied:
        return True
    visible = _one(
        # a transaction is visible when it ended before this view, or is this view's own (a caller's open one)
        "SELECT bool_and(pg_visible_in_snapshot(x::text::xid8, pg_current_snapshot()) "
        "OR x::text::xid8 = pg_current_xact_id_if_assigned()) FROM unnest(%s::bigint[]) x",
        [list(held.applied)],
    )[0]
    return bool(visible)


def _changed_since(held: _Cache) -> set[int]:
    rows = SiteChange.objects.order_by()
    if connection.vendor == "postgresql":
        rows = rows.filter(xact__gte=held.horizon)
    else:
        rows = rows.filter(id__gt=held.last[0])
    return set(rows.values_list("site_id", flat=True).distinct()[: MAX_INCREMENTAL_SITES + 1])


def _db() -> tuple[str, str]:
    return (connection.vendor, str(connection.settings_dict.get("NAME")))


# --- the read ---------------------------------------------------------------------------------------


def read_sites(balancer_names: dict[int, str]) -> SitesRead:
    """Every site's record, sorted by domain: incrementally when the cache allows (module docstring).
    Runs inside load_snapshot's transaction (one consistent view)."""
    with cache.SITE_CACHE.lock:  # held for a whole read: the snapshots of one process take turns
        try:
            held = cache.SITE_CACHE.get(_db())
            if held is not None and held.balancer_names == balancer_names and _covers(held):
                # the position first: under READ COMMITTED (a caller's transaction) a commit between the
                # two reads is then read again next time, never skipped
                position = _position()
                changed = _changed_since(held)
                if len(changed) <= MAX_INCREMENTAL_SITES:
                    return _apply(held, changed, position)
            return _full(balancer_names)
        except BaseException:
            cache.SITE_CACHE.clear()  # half-applied: the next snapshot reads everything
            raise


def _position() -> tuple[tuple[int, int], int, tuple[int, ...]]:
    head = _head()
    if connection.vendor != "postgresql":
        return head, 0, ()
    horizon = _pg_xmin()
    return head, horizon, _pg_pending(horizon)


def _full(balancer_names: dict[int, str]) -> SitesRead:
    last, horizon, applied = _position()
    aliases: dict[int, list[str]] = defaultdict(list)
    for site_id, name in _rows(SiteAlias, "site", "name"):
        aliases[site_id].append(name)
    records = _records(_rows(Site, *_SITE_FIELDS), balancer_names, aliases, _certificates(), cache.SITES.entries())
    _intern(records, full=True)
    ordered = sorted(records.values(), key=_domain)
    generation = cache.next_generation()
    db = _db()
    held = _Cache(
        db,
        dict(balancer_names),
        records,
        ordered,
        [r.domain for r in ordered],
        last,
        horizon,
        applied,
        time.monotonic(),
        generation,
    )
    cache.SITE_CACHE.replace({db: held})
    return _produced(SitesRead(tuple(ordered), generation, None))


def _apply(held: _Cache, changed: set[int], position: tuple[tuple[int, int], int, tuple[int, ...]]) -> SitesRead:
    """The cache brought to this view: the changed sites read again (a deleted one is simply gone)."""
    last, horizon, applied = position
    touched: set[str] = set()
    if changed:
        aliases: dict[int, list[str]] = defaultdict(list)
        for site_id, name in SiteAlias.objects.filter(site_id__in=changed).order_by().values_list("site_id", "name"):
            aliases[site_id].append(name)
        rows = Site.objects.filter(pk__in=changed).order_by().values_list(*_SITE_FIELDS)
        fresh = _records(rows, held.balancer_names, aliases, _certificates(changed), cache.SITES.entries())
        _intern(fresh, full=False)
        moved = [i for i in changed if held.records.get(i) is not fresh.get(i)]
        for site_id in moved:  # every old record out first: a domain may pass from one site to another
            old = held.records.pop(site_id, None)
            if old is not None:
                index = bisect.bisect_left(held.domains, old.domain)
                if held.ordered[index] is not old:
                    raise RuntimeError(f"site cache out of order at {old.domain}")  # read everything next time
                del held.domains[index], held.ordered[index]
                touched.add(old.domain)
        for site_id in moved:
            new = fresh.get(site_id)
            if new is not None:
                index = bisect.bisect_left(held.domains, new.domain)
                held.domains.insert(index, new.domain)
                held.ordered.insert(index, new)
                held.records[site_id] = new
                touched.add(new.domain)
    before = held.generation
    held.generation = cache.next_generation()
    held.last, held.horizon, held.applied = last, horizon, applied
    return _produced(SitesRead(tuple(held.ordered), held.generation, (before, frozenset(touched))))


def _produced(read: SitesRead) -> SitesRead:
    cache.produced(read.generation, read.sites)  # what rendering.cache.genuine() is asked about
    return read


def _domain(site: SiteRecord) -> str:
    return site.domain
