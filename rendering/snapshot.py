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

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings as django_settings
from django.db import connection, transaction

from balancers.capacity import ApacheFacts
from balancers.choices import RenderMode, ServerKind
from balancers.models import Balancer, BalancerMember, ConfigBlob, FrontEnd, RoutesBase, ZopeServer
from balancers.models.inventory import BALANCER_SETTINGS, MEMBER_SETTINGS
from rendering import cache
from rendering.journal import CertificateRecord, SiteRecord, read_sites

HCHECK_MODULE = "proxy_hcheck"
# ZopeServer's health-check fields, in ZopeServerRecord's order after name, host and port
HEALTH_SETTINGS = ("health_path", "health_method", "health_interval", "health_passes", "health_fails")

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
    # active health checks (mod_proxy_hcheck): rendered only for front-ends that load the module
    health_path: str = "/"
    health_method: str = "GET"
    health_interval: int = 5
    health_passes: int = 1
    health_fails: int = 2

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
    kind: str = ServerKind.ZOPE  # "node": a Node.js frontend pool (always single-pass: rendering.render)
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
    # mod_proxy_hcheck is loaded there (FrontEnd.apache_facts, read by the readiness check): members get
    # hc* parameters. Part of the record, so a render kept for the front-end is reused only with the same facts.
    health_checks: bool = False
    usage_log_dir: str = ""  # traffic metering (metering.collect): where rotatelogs writes; "" = off
    tls_edge: str = "apache"  # balancers.choices.TlsEdge: what terminates HTTPS
    edge_backend_listen: str = "127.0.0.1:8443"  # nginx edge: Apache's loopback listener behind it

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
            health_checks=_health_checks(frontend.apache_facts),
            usage_log_dir=frontend.usage_log_dir,
            tls_edge=frontend.tls_edge,
            edge_backend_listen=frontend.edge_backend_listen,
        )


def _health_checks(apache_facts: dict | None) -> bool:
    """Whether the front-end's Apache loads mod_proxy_hcheck, as its last readiness check read it. Facts
    that cannot be read count as unknown: no hc* parameters (the config Apache accepts without the module)."""
    try:
        return ApacheFacts.from_json(apache_facts if isinstance(apache_facts, dict) else None).has(HCHECK_MODULE)
    except (TypeError, ValueError, AttributeError):
        return False


@dataclass(frozen=True, slots=True)
class Snapshot:
    zope_servers: tuple[ZopeServerRecord, ...] = ()  # by name
    balancers: tuple[BalancerRecord, ...] = ()  # by name, members by (lbset, route)
    sites: tuple[SiteRecord, ...] = ()  # by domain, aliases by name
    frontends: tuple[FrontEndRecord, ...] = ()  # by name
    routes_base: str | None = None  # the routing map's current base (rendering.routes.split_map); None: none yet
    overlay_max_lines: int = 500  # HOSTPANEL_ROUTES_OVERLAY_MAX_LINES
    staff_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")  # HOSTPANEL_STAFF_NETWORKS (routing rules)
    usage_rotate_seconds: int = 3600  # HOSTPANEL_USAGE_ROTATE_SECONDS: one closed usage-log file per interval
    # this process's site generation, and (the generation before, domains changed since) when the sites
    # were read incrementally (rendering.journal): what the renderer may patch instead of rebuild
    generation: int = field(default=0, compare=False)
    delta: tuple[int, frozenset[str]] | None = field(default=None, compare=False)

    def frontend(self, name: str) -> FrontEndRecord:
        for frontend in self.frontends:
            if frontend.name == name:
                return frontend
        raise KeyError(f"no front-end named {name!r}")


def load_snapshot() -> Snapshot:
    """Read Zope servers, front-ends, balancers with members, sites with aliases, the sites' live
    certificates and the routing base (8-9 queries) in ONE consistent snapshot (_consistent_view)."""
    with _consistent_view():
        servers = _zope_servers()
        frontends = _frontends()
        balancers, balancer_names = _balancers(_members(servers))
        read = read_sites(balancer_names)  # incrementally when this process's site cache allows
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
        staff_networks=tuple(django_settings.HOSTPANEL_STAFF_NETWORKS),
        usage_rotate_seconds=django_settings.HOSTPANEL_USAGE_ROTATE_SECONDS,
        generation=read.generation,
        delta=read.delta,
    )


@contextmanager
def _consistent_view() -> Iterator[None]:
    """A transaction of its own that is REPEATABLE READ on PostgreSQL (READ COMMITTED, its default, would
    let a change committed between two of the queries give, say, a site whose balancer the tree lacks).
    On SQLite a read transaction already is a snapshot. Inside a caller's transaction the caller's
    isolation applies (SET TRANSACTION must be its first statement)."""
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _zope_servers() -> dict[int, ZopeServerRecord]:
    """Every Zope server, by primary key (one query)."""
    rows = ZopeServer.objects.order_by("name").values_list("pk", "name", "host", "port", *HEALTH_SETTINGS)
    return {pk: ZopeServerRecord(name, host, port, *health) for pk, name, host, port, *health in rows}


def _frontends() -> tuple[FrontEndRecord, ...]:
    """Every front-end (one query)."""
    rows = FrontEnd.objects.order_by("name").values_list(
        "name",
        "config_dir",
        "http_listen",
        "https_listen",
        "node_address",
        "node_port_base",
        "enabled",
        "apache_facts",
        "usage_log_dir",
        "tls_edge",
        "edge_backend_listen",
    )
    return tuple(
        FrontEndRecord(
            name=name,
            config_dir=config_dir,
            http_listen=http_listen,
            https_listen=https_listen,
            node_address=node_address,
            node_port_base=node_port_base,
            enabled=enabled,
            health_checks=_health_checks(facts),
            usage_log_dir=usage_log_dir,
            tls_edge=tls_edge,
            edge_backend_listen=edge_backend_listen,
        )
        for (
            name,
            config_dir,
            http_listen,
            https_listen,
            node_address,
            node_port_base,
            enabled,
            facts,
            usage_log_dir,
            tls_edge,
            edge_backend_listen,
        ) in rows
    )


def _members(servers: dict[int, ZopeServerRecord]) -> dict[int, list[MemberRecord]]:
    """Every balancer member, by balancer primary key (one query)."""
    members: dict[int, list[MemberRecord]] = defaultdict(list)
    rows = BalancerMember.objects.order_by().values_list("balancer_id", "zope_server_id", *MEMBER_SETTINGS)
    for balancer_id, server_id, *values in rows:
        members[balancer_id].append(MemberRecord(servers[server_id], *values))  # fields in MEMBER_SETTINGS order
    return members


def _balancers(members: dict[int, list[MemberRecord]]) -> tuple[list[BalancerRecord], dict[int, str]]:
    """Every balancer with its members (by lbset, then route), and {primary key: name} (one query)."""
    balancer_names: dict[int, str] = {}
    balancers = []
    rows = Balancer.objects.order_by("name").values_list("pk", "name", "kind", *BALANCER_SETTINGS)
    for pk, name, kind, *values in rows:
        balancer_names[pk] = name
        balancers.append(
            BalancerRecord(
                name,
                kind=kind,
                **dict(zip(BALANCER_SETTINGS, values, strict=True)),
                members=tuple(sorted(members.get(pk, ()), key=lambda m: (m.lbset, m.zope_server.name))),
            )
        )
    return balancers, balancer_names


def _routes_base() -> str | None:
    """The routing map's current base (one query; a second one only when the base changed: its text is
    kept in rendering.cache.BASE_TEXT by digest)."""
    digest = RoutesBase.objects.filter(pk=1).values_list("blob__digest", flat=True).first()
    if digest is None:
        return None
    text = cache.BASE_TEXT.get(digest)
    if text is not None:
        return text
    text = ConfigBlob.objects.filter(digest=digest).values_list("text", flat=True).first()
    if text is None:
        return None
    cache.BASE_TEXT.replace({digest: text})  # the last one only
    return text
