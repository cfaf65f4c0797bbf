"""Everything the Apache renderer needs, read from the database in a constant number of queries.

`load_snapshot()` returns frozen dataclasses (no model instances, no lazy relations), so that
render.py is a pure function of its input and the query count does not grow with the number of
sites: eight queries whatever the size (Zope servers, front-ends, balancers, members, sites, aliases,
certificates, the routing map's base; a ninth reads the base's text when it changed).

A TLS site's live certificate comes with its private key DECRYPTED (certificates.crypto): the tree a
front-end gets holds the key file. It lives in memory only; deploy.secrets seals key files
before a tree is stored, and rendering.manifest.tree_diff never shows them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings as django_settings
from django.db import connection, transaction

from balancers.choices import RenderMode
from balancers.models import (
    BALANCER_SETTINGS,
    MEMBER_SETTINGS,
    Balancer,
    BalancerMember,
    ConfigBlob,
    FrontEnd,
    RoutesBase,
    ZopeServer,
)
from rendering.journal import CertificateRecord, SiteRecord, read_sites

__all__ = [
    "BalancerRecord",
    "CertificateRecord",
    "FrontEndRecord",
    "MemberRecord",
    "SiteRecord",
    "Snapshot",
    "ZopeServerRecord",
    "load_snapshot",
]


@dataclass(frozen=True, slots=True)
class ZopeServerRecord:
    name: str  # also the balancer route
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MemberRecord:
    zope_server: ZopeServerRecord
    lbset: int = 1
    loadfactor: int = 1
    min: int | None = None
    max: int | None = None
    smax: int | None = None
    timeout: int = 10
    retry: int = 60
    hot_standby: bool = False
    drain: bool = False
    disabled: bool = False

    @property
    def route(self) -> str:
        return self.zope_server.name


@dataclass(frozen=True, slots=True)
class BalancerRecord:
    name: str
    lbmethod: str = "byrequests"
    sticky_cookie: str = "BALANCEID"
    cookie_ttl: int = 1200
    nofailover: bool = False
    maxattempts: int = 2
    timeout: int = 20
    error_document: str = "/ERROR_503.html"
    render_mode: str = RenderMode.SINGLE_PASS
    members: tuple[MemberRecord, ...] = ()

    @property
    def node_vhosts(self) -> bool:
        return self.render_mode == RenderMode.NODE_VHOSTS


@dataclass(frozen=True, slots=True)
class FrontEndRecord:
    name: str
    config_dir: str = "/etc/apache2/hostpanel"
    http_listen: str = "*:80"
    https_listen: str = "*:443"
    node_address: str = "127.0.0.1"
    node_port_base: int = 18080
    enabled: bool = True

    @classmethod
    def from_model(cls, frontend: FrontEnd) -> FrontEndRecord:
        return cls(
            name=frontend.name,
            config_dir=frontend.config_dir,
            http_listen=frontend.http_listen,
            https_listen=frontend.https_listen,
            node_address=frontend.node_address,
            node_port_base=frontend.node_port_base,
            enabled=frontend.enabled,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    zope_servers: tuple[ZopeServerRecord, ...] = ()  # by name
    balancers: tuple[BalancerRecord, ...] = ()  # by name, members by (lbset, route)
    sites: tuple[SiteRecord, ...] = ()  # by domain, aliases by name
    frontends: tuple[FrontEndRecord, ...] = ()  # by name
    routes_base: str | None = None  # the routing map's current base (rendering.routes.split_map); None: none yet
    overlay_max_lines: int = 500  # HOSTPANEL_ROUTES_OVERLAY_MAX_LINES
    # this process's site generation, and (the generation before, domains changed since) when the sites
    # were read incrementally (rendering.journal): what the renderer may patch instead of rebuild
    generation: int = field(default=0, compare=False)
    delta: tuple[int, frozenset[str]] | None = field(default=None, compare=False)

    def frontend(self, name: str) -> FrontEndRecord:
        for frontend in self.frontends:
            if frontend.name == name:
                return frontend
        raise KeyError(f"no front-end named {name!r}")


_INTERN_LOCK = threading.Lock()
_BASE: list[tuple[str, str]] = []  # (digest, text) of the last routing base read: its text is read once


def _routes_base() -> str | None:
    """The routing map's current base (one query; a second one only when the base changed)."""
    global _BASE
    digest = RoutesBase.objects.filter(pk=1).values_list("blob__digest", flat=True).first()
    if digest is None:
        return None
    with _INTERN_LOCK:
        known = _BASE
    if known and known[0][0] == digest:
        return known[0][1]
    text = ConfigBlob.objects.filter(digest=digest).values_list("text", flat=True).first()
    if text is None:
        return None
    with _INTERN_LOCK:
        _BASE = [(digest, text)]
    return text


def load_snapshot() -> Snapshot:
    """Read Zope servers, front-ends, balancers with members, sites with aliases, the sites' live
    certificates and the routing base (8-9 queries) in ONE consistent snapshot: a transaction of its own
    that is REPEATABLE READ on PostgreSQL (READ COMMITTED, its default, would let a change committed
    between two of the queries give, say, a site whose balancer the tree lacks). On SQLite a read
    transaction already is a snapshot. Inside a caller's transaction the caller's isolation applies
    (SET TRANSACTION must be its first statement)."""
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        servers = {
            pk: ZopeServerRecord(name=name, host=host, port=port)
            for pk, name, host, port in ZopeServer.objects.order_by("name").values_list("pk", "name", "host", "port")
        }
        frontends = tuple(
            FrontEndRecord(
                name=row[0],
                config_dir=row[1],
                http_listen=row[2],
                https_listen=row[3],
                node_address=row[4],
                node_port_base=row[5],
                enabled=row[6],
            )
            for row in FrontEnd.objects.order_by("name").values_list(
                "name", "config_dir", "http_listen", "https_listen", "node_address", "node_port_base", "enabled"
            )
        )
        members: dict[int, list[MemberRecord]] = defaultdict(list)
        member_rows = BalancerMember.objects.order_by().values_list("balancer_id", "zope_server_id", *MEMBER_SETTINGS)
        for balancer_id, server_id, *values in member_rows:
            members[balancer_id].append(MemberRecord(servers[server_id], *values))  # fields in MEMBER_SETTINGS order
        balancer_names: dict[int, str] = {}
        balancers = []
        for pk, name, *values in Balancer.objects.order_by("name").values_list("pk", "name", *BALANCER_SETTINGS):
            balancer_names[pk] = name
            balancers.append(
                BalancerRecord(
                    name,
                    *values,  # fields in BALANCER_SETTINGS order
                    members=tuple(sorted(members.get(pk, ()), key=lambda m: (m.lbset, m.zope_server.name))),
                )
            )
        read = read_sites(balancer_names)
        routes_base = _routes_base()
    # Sorted here, not by the database: PostgreSQL's collation and SQLite's byte order differ, and
    # the rendered tree must be byte-identical on both.
    return Snapshot(
        zope_servers=tuple(sorted(servers.values(), key=lambda s: s.name)),
        balancers=tuple(sorted(balancers, key=lambda b: b.name)),
        sites=read.sites,
        frontends=tuple(sorted(frontends, key=lambda f: f.name)),
        routes_base=routes_base,
        overlay_max_lines=django_settings.HOSTPANEL_ROUTES_OVERLAY_MAX_LINES,
        generation=read.generation,
        delta=read.delta,
    )
