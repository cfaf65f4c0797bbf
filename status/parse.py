"""Pure parsing of Apache's balancer-manager: bytes in, frozen dataclasses out (no I/O).

Hardened with defusedxml (no DTD, no entities), a size limit and a namespace check. The records here
(`FrontEndLive` -> `BalancerStatus` -> `MemberStatus` with its `MemberFlags`) are what the HTTP client
(status.manager) returns and what the selectors join with the database's intended state.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

NAMESPACE = "http://httpd.apache.org"
_NS = "{" + NAMESPACE + "}"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # 5,000 vhosts share a handful of balancers: real answers are a few kB


class HostState(enum.StrEnum):
    OK = "ok"
    DOWN = "down"  # connection reset, no route, DNS failure, HTTP error status (401, 403, 500 ...)
    TIMEOUT = "timeout"
    REFUSED = "refused"
    HTML = "html"  # Apache ignored our parameters (missing/foreign Referer: AH10187) and sent the HTML page
    JUNK = "junk"  # not a balancer-manager document (wrong namespace, malformed, hostile, oversized)
    UNCONFIGURED = "unconfigured"  # the front-end has no balancer_manager_url
    UNPOLLED = "unpolled"  # no sample yet: the poller (manage.py poll_status --loop) has not asked it


# the front-end did not answer at all (the others answered with something that is not a usable document)
UNREACHABLE_STATES = frozenset({HostState.DOWN, HostState.TIMEOUT, HostState.REFUSED})


class StatusError(Exception):
    """A failure of one host, with the state it puts the host in and a reason a person can act on."""

    def __init__(self, state: HostState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFlags:
    """The flags of a worker's status string, e.g. "Init Stby Ok " -> init, hot_standby, ok. "HcFl" (flag C,
    only where mod_proxy_hcheck is loaded) is a member its health checks took out of rotation; an Apache
    without the module never prints it, and a token this table does not know lands in `unknown`."""

    ok: bool = False
    error: bool = False
    init: bool = False
    hot_standby: bool = False
    drain: bool = False
    disabled: bool = False
    stopped: bool = False
    ignore_errors: bool = False
    hot_spare: bool = False
    health_check_failed: bool = False
    shutting_down: bool = False
    generic: bool = False
    free: bool = False
    unknown: tuple[str, ...] = ()

    TOKENS = {
        "Ok": "ok",
        "Err": "error",
        "Init": "init",
        "Stby": "hot_standby",
        "Drn": "drain",
        "Dis": "disabled",
        "Stop": "stopped",
        "Ign": "ignore_errors",
        "Spar": "hot_spare",
        "HcFl": "health_check_failed",
        "Shut": "shutting_down",
        "Gen": "generic",
        "Free": "free",
    }  # mod_proxy's wstat_tbl (proxy_util.c); "Ok" is printed when none of the unusable flags is set

    @classmethod
    def parse(cls, status: str) -> MemberFlags:
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for token in status.split():
            name = cls.TOKENS.get(token)
            if name:
                values[name] = True
            else:
                unknown.append(token)
        return cls(**values, unknown=tuple(unknown))

    @property
    def state(self) -> str:
        """One word for a badge, most severe first."""
        if self.stopped:
            return "stopped"
        if self.disabled:
            return "disabled"
        if self.health_check_failed:  # mod_proxy_hcheck took it out (flag C), whatever the proxy saw
            return "health check failing"
        if self.error:
            return "error"
        if self.drain:
            return "drain"
        if self.hot_standby:
            return "hot standby"
        if self.ok:
            return "ok"
        return "unknown"


@dataclass(frozen=True)
class MemberStatus:
    """One worker of a balancer as balancer-manager reports it."""

    url: str
    route: str
    lbset: int
    loadfactor: float
    status: str
    flags: MemberFlags
    elected: int
    busy: int
    load: int  # lbstatus: the lbmethod's running score
    transferred: int
    read: int
    error_time: str | None = None
    redirect: str = ""
    timeout: int | None = None
    retry: int | None = None


@dataclass(frozen=True)
class BalancerStatus:
    name: str  # "bronze" (balancer-manager's `b` parameter)
    sticky_cookie: str
    lbmethod: str
    nofailover: bool
    maxattempts: int | None
    timeout: int | None
    nonce: str
    members: tuple[MemberStatus, ...] = ()

    def member(self, url: str) -> MemberStatus | None:
        return next((m for m in self.members if m.url == url), None)


@dataclass
class FrontEndLive:
    """One front-end's answer (or failure) at one time."""

    frontend_id: int | None
    frontend_name: str
    url: str
    state: HostState
    reason: str = ""
    balancers: tuple[BalancerStatus, ...] = ()
    fetched_at: datetime.datetime | None = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == HostState.OK

    def balancer(self, name: str) -> BalancerStatus | None:
        return next((b for b in self.balancers if b.name == name), None)


# --- stored form (pure): what balancers.models.status.FrontEndSnapshot keeps ------------------------


def live_payload(balancers: Iterable[BalancerStatus]) -> list[dict[str, Any]]:
    """The parsed balancers as JSON-safe data (nonces left out: they are single-use and never shown)."""
    out = []
    for balancer in balancers:
        data = asdict(balancer)
        data.pop("nonce")
        for member in data["members"]:
            member.pop("flags")  # derived from the status string again when read
        out.append(data)
    return out


def balancers_from_payload(payload: Iterable[dict[str, Any]]) -> tuple[BalancerStatus, ...]:
    """The inverse of live_payload()."""
    return tuple(
        BalancerStatus(
            **{k: v for k, v in data.items() if k != "members"},
            nonce="",
            members=tuple(
                MemberStatus(**member, flags=MemberFlags.parse(member["status"])) for member in data["members"]
            ),
        )
        for data in payload
    )


# --- parsing (pure) ------------------------------------------------------------------------------


def _text(element: Element, name: str) -> str | None:
    child = element.find(_NS + name)
    if child is None:
        return None
    return (child.text or "").strip()


def _int(element: Element, name: str, default: int | None = 0) -> int | None:
    value = _text(element, name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise StatusError(HostState.JUNK, f"<{name}> is not a number: {value[:40]!r}") from None


def _float(element: Element, name: str) -> float:
    value = _text(element, name) or "0"
    try:
        return float(value)
    except ValueError:
        raise StatusError(HostState.JUNK, f"<{name}> is not a number: {value[:40]!r}") from None


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head


def parse_manager_xml(data: bytes, *, max_bytes: int | None = None) -> tuple[BalancerStatus, ...]:
    """Parse balancer-manager's `?xml=1` document. Raises StatusError(HTML or JUNK) on anything else:
    the HTML page, a DTD or entity (billion laughs, external entities), an oversized document, another
    namespace, or malformed XML."""
    max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        raise StatusError(HostState.JUNK, f"answer larger than {max_bytes} bytes")
    if looks_like_html(data):
        raise StatusError(
            HostState.HTML,
            "balancer-manager sent its HTML page instead of XML: it ignored the request's parameters "
            "(a Referer whose host differs from the manager's server name, AH10187)",
        )
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise StatusError(HostState.JUNK, f"refused hostile XML ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise StatusError(HostState.JUNK, f"not XML: {str(exc)[:120]}") from None
    if root.tag != _NS + "manager":
        raise StatusError(HostState.JUNK, f"not a balancer-manager document (root element {root.tag[:80]!r})")
    balancers = []
    for element in root.iterfind(f"{_NS}balancers/{_NS}balancer"):
        full_name = _text(element, "name") or ""
        name = full_name.removeprefix("balancer://")
        if not name:
            raise StatusError(HostState.JUNK, "a balancer without a name")
        members = []
        for worker in element.iterfind(f"{_NS}workers/{_NS}worker"):
            status = _text(worker, "status") or ""
            members.append(
                MemberStatus(
                    url=_text(worker, "name") or "",
                    route=_text(worker, "route") or "",
                    lbset=_int(worker, "lbset") or 0,
                    loadfactor=_float(worker, "loadfactor"),
                    status=status,
                    flags=MemberFlags.parse(status),
                    elected=_int(worker, "elected") or 0,
                    busy=_int(worker, "busy") or 0,
                    load=_int(worker, "lbstatus") or 0,
                    transferred=_int(worker, "transferred") or 0,
                    read=_int(worker, "read") or 0,
                    error_time=_text(worker, "error_time") or None,
                    redirect=_text(worker, "redirect") or "",
                    timeout=_int(worker, "timeout", None),
                    retry=_int(worker, "retry", None),
                )
            )
        balancers.append(
            BalancerStatus(
                name=name,
                sticky_cookie=_text(element, "stickysession") or "",
                lbmethod=_text(element, "lbmethod") or "",
                nofailover=(_text(element, "nofailover") or "").lower() == "on",
                maxattempts=_int(element, "maxattempts", None),
                timeout=_int(element, "timeout", None),
                nonce=_text(element, "nonce") or "",
                members=tuple(members),
            )
        )
    return tuple(balancers)


_NONCE_LINK = re.compile(r"[?&](?:amp;)?b=([A-Za-z0-9_.-]+)&(?:amp;)?(?:w=[^&\"'\s]*&(?:amp;)?)?nonce=([0-9A-Za-z-]+)")


def nonces_from_html(text: str) -> dict[str, str]:
    """{balancer name: nonce} from the `nonce=` in the HTML page's links (builds whose XML has no nonce)."""
    found: dict[str, str] = {}
    for name, nonce in _NONCE_LINK.findall(text):
        found.setdefault(name, nonce)
    return found


def find_worker(balancer: BalancerStatus, *, urls: Iterable[str], route: str) -> MemberStatus | None:
    """A member's worker on a front-end: by URL first, then by route (routes are unique per balancer)."""
    candidates = [u.rstrip("/") for u in urls]
    for member in balancer.members:
        if member.url.rstrip("/") in candidates:
            return member
    if route:
        for member in balancer.members:
            if member.route == route:
                return member
    return None


# --- live changes (what to POST, and each front-end's outcome) --------------------------------


@dataclass(frozen=True)
class MemberChange:
    """Flags to set on a worker; None leaves a flag as it is."""

    hot_standby: bool | None = None
    drain: bool | None = None
    disabled: bool | None = None
    loadfactor: int | None = None
    lbset: int | None = None

    def form(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for flag, value in (("H", self.hot_standby), ("N", self.drain), ("D", self.disabled)):
            if value is not None:
                fields[f"w_status_{flag}"] = "1" if value else "0"
        if self.loadfactor is not None:
            fields["w_lf"] = str(self.loadfactor)
        if self.lbset is not None:
            fields["w_ls"] = str(self.lbset)
        return fields

    def mismatches(self, member: MemberStatus) -> list[str]:
        """What the live worker does not (yet) show of this change."""
        wrong = []
        for name in ("hot_standby", "drain", "disabled"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(member.flags, name) != wanted:
                wrong.append(f"{name.replace('_', ' ')} is {'on' if not wanted else 'off'}")
        if self.loadfactor is not None and abs(member.loadfactor - self.loadfactor) > 0.001:
            wrong.append(f"loadfactor is {member.loadfactor:g}")
        if self.lbset is not None and member.lbset != self.lbset:
            wrong.append(f"lbset is {member.lbset}")
        return wrong


@dataclass(frozen=True)
class ApplyResult:
    """One front-end's outcome of a live change."""

    frontend_id: int | None
    frontend_name: str
    applied: bool
    reason: str = ""
    live_status: str = ""
    worker_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    # the names the panel's generic result list reads (hostpanel.templatetags.panel.result_items)
    @property
    def name(self) -> str:
        return self.frontend_name

    @property
    def ok(self) -> bool:
        return self.applied

    @property
    def detail(self) -> str:
        return f"{self.reason} ({self.live_status})" if self.applied and self.live_status else self.reason
