"""The shared model of what the recogniser finds: candidates (Zope servers, balancers, members, sites),
the Recognition that holds them, and every directive's fate (unrecognised, ignored, translated) and
the problems an operator must see (errors block the import, warnings need an explicit accept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from balancers.choices import RenderMode, ServerKind
from balancers.models import Balancer
from importer.reader import ConfigTree

type Severity = Literal["error", "warning"]

DEFAULT_ERROR_DOCUMENT = str(Balancer._meta.get_field("error_document").default)
NODE_VHOSTS = str(RenderMode.NODE_VHOSTS)
SINGLE_PASS = str(RenderMode.SINGLE_PASS)
ZOPE = str(ServerKind.ZOPE)
NODE = str(ServerKind.NODE)
NODE_HEALTH_PATH = "/ok"  # what a Volto server answers `ok` on (packages/volto/src/express-middleware/ok.js)


@dataclass(frozen=True)
class Unrecognised:
    file: str
    line: int
    text: str
    why: str


@dataclass(frozen=True)
class Ignored:
    file: str
    line: int
    text: str
    why: str


@dataclass(frozen=True)
class Translated:
    """Understood, and rendered by HostPanel in an equivalent (or deliberately better) form."""

    file: str
    line: int
    text: str
    as_: str


@dataclass(frozen=True)
class Problem:
    code: str
    severity: Severity
    file: str
    line: int
    message: str


@dataclass
class ServerCandidate:
    name: str
    host: str
    port: int
    file: str
    line: int
    via: str
    derived: bool = False  # no route in the config: named after its host (an existing row's name wins)
    kind: str = ZOPE  # "node": a Node.js frontend server (a member of a Volto site's frontend balancer)
    # health-check settings read from its members' hc* parameters ({ZopeServer field: value}; only those set)
    health: dict[str, str | int] = field(default_factory=dict)


@dataclass
class BalancerCandidate:
    name: str
    file: str
    line: int
    lbmethod: str = "byrequests"
    sticky_cookie: str = "BALANCEID"
    cookie_ttl: int = 1200
    nofailover: bool = False
    maxattempts: int = 2
    timeout: int = 20
    error_document: str = ""
    render_mode: str = SINGLE_PASS
    direct: bool = False  # made for a site whose VHM rule goes straight to one Zope: a one-member balancer
    in_vhost: bool = False  # its <Proxy balancer://> is inside a <VirtualHost> (only that vhost can use it)
    kind: str = ZOPE  # "node": a Volto site's frontend balancer (its members are Node.js frontend servers)


@dataclass
class MemberCandidate:
    balancer: str
    server: str
    url: str
    file: str
    line: int
    lbset: int = 0
    loadfactor: int = 1
    min: int | None = None
    max: int | None = None
    smax: int | None = None
    timeout: int = 10
    retry: int = 60
    hot_standby: bool = False
    drain: bool = False
    disabled: bool = False


@dataclass
class SiteCandidate:
    domain: str
    balancer: str
    plone_path: str
    file: str
    line: int
    domain_line: int
    rule_line: int
    aliases: list[tuple[str, int]] = field(default_factory=list)  # (name, line of its ServerAlias)
    via: str = "vhost"  # "vhost": its own <VirtualHost>; "map": a `# site` group of HostPanel's routes.map
    suspended: bool = False  # map state `suspended`
    https_redirect: bool | None = None  # map state `redirect`: True; None: the panel's default
    tls: str | None = None  # "custom": served over HTTPS today with its own certificate (imported)
    certificate: SiteCertificate | None = None
    # Extra rules around the VHM rule that a structured site option expresses (see OPTION_NAMES), or the
    # options of HostPanel's own map line: the plan validates them with the Site row and the import sets them.
    options: dict[str, object] = field(default_factory=dict)
    # the networks an edit host (options["edit_host"]) is restricted to today (`Require ip`); HostPanel
    # restricts every edit host to HOSTPANEL_STAFF_NETWORKS instead (the equivalence check compares them)
    edit_networks: list[str] = field(default_factory=list)
    vhosts: list[tuple[str, int]] = field(default_factory=list)  # (file, line) of every old vhost it stands for
    # Plone 6 (sites.Site.kind): "classic", "volto" (`balancer` serves the API, `frontend_balancer` every other
    # path) or "frontend_only"; the Classic UI path kept for staff. Read from a hand-written Volto vhost
    # (importer/recognise/volto.py) or from HostPanel's own map line (v=, f=, c=); the plan validates them.
    # `api_path`: how the API is reached today ("++api++", or "/api" for the legacy `_vh_api` form)
    kind: str = "classic"
    frontend_balancer: str = ""
    classic_ui_path: str = ""
    api_path: str = ""


# The structured site options (sites.Site fields manage_access, blocked_methods, passthrough_paths, edit_host)
# that extra hand-written rules become.
OPTION_NAMES = ("manage_access", "blocked_methods", "passthrough_paths", "edit_host")


@dataclass
class SiteCertificate:
    """The certificate an HTTPS vhost serves today, read from the config tree (archive or front-end):
    PEM text, or why it could not be read (a per-site problem, never a refusal of the whole import)."""

    certificate_path: str
    key_path: str
    chain_path: str = ""
    certificate_pem: str = ""
    private_key_pem: str = field(default="", repr=False)
    chain_pem: str = ""
    error: str = ""


@dataclass(frozen=True)
class ProxyingVhost:
    """An old vhost that proxies traffic ([P], ProxyPass, a balancer): the equivalence check counts each one,
    imported or not."""

    file: str
    line: int
    names: tuple[str, ...]
    addresses: tuple[str, ...]


@dataclass
class Recognition:
    source: str
    main: str
    files: list[str]
    digest: str
    servers: list[ServerCandidate] = field(default_factory=list)
    balancers: list[BalancerCandidate] = field(default_factory=list)
    members: list[MemberCandidate] = field(default_factory=list)
    sites: list[SiteCandidate] = field(default_factory=list)
    unrecognised: list[Unrecognised] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    translated: list[Translated] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    proxying: list[ProxyingVhost] = field(default_factory=list)
    answering: list[ProxyingVhost] = field(default_factory=list)  # every vhost with a name (the names answered)
    tree: ConfigTree | None = field(default=None, repr=False, compare=False)  # what was read (equivalence check)
