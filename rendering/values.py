"""The renderer's second check of every value before it reaches an Apache config (defence in depth: the
models validate on the way in with hostpanel.validators, but a value planted with QuerySet.update() or raw
SQL must never reach a config). Pure: each function returns the value or raises UnsafeValue."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

from balancers.choices import HealthMethod, LbMethod, RenderMode, ServerKind, TlsEdge
from hostpanel.validators import (
    BLOCKABLE_METHODS,
    assert_config_safe,
    normalize_passthrough_paths,
    validate_health_path,
)
from sites.choices import ManageAccess, SiteKind, SiteStatus


class UnsafeValue(ValueError):
    """A value that must not be rendered into an Apache config."""


# Stricter, per-kind patterns (the same shapes hostpanel.validators enforces on the way in).
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")
ROUTE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
COOKIE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"(?=.{{1,253}}$){LABEL}(?:\.{LABEL})+")
HOST_RE = re.compile(rf"{LABEL}(?:\.{LABEL})*|[0-9.]{{7,15}}|[0-9A-Fa-f:.]{{2,45}}")
URL_PATH_RE = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+")
FS_PATH_RE = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~+-]+)+")
LISTEN_RE = re.compile(r"(?:(?:\*|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):)?[0-9]{1,5}")


def check_pattern(value: object, what: str, pattern: re.Pattern[str], *, extra_allowed: str = "") -> str:
    if not isinstance(value, str):
        raise UnsafeValue(f"refusing to render {what}={value!r}: not text")
    if pattern.fullmatch(value):
        return value
    try:
        assert_config_safe(value, what, extra_allowed=extra_allowed)
    except ValueError as exc:
        raise UnsafeValue(str(exc)) from None
    raise UnsafeValue(f"refusing to render {what}={value[:80]!r}: not a valid {what}")


def check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValue(f"refusing to render {what}={value!r}: not an integer in {low}..{high}")
    return value


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise UnsafeValue(f"refusing to render {what}={value!r}: not a boolean")
    return value


LBMETHODS = frozenset(LbMethod.values)
HEALTH_METHODS = frozenset(HealthMethod.values)
RENDER_MODES = frozenset(RenderMode.values)
SITE_STATUSES = frozenset(SiteStatus.values)
SITE_KINDS = frozenset(SiteKind.values)
SERVER_KINDS = frozenset(ServerKind.values)
TLS_EDGES = frozenset(TlsEdge.values)
# hostpanel.validators.validate_classic_ui_path: one segment (Zope sees it as _vh_<segment>)
CLASSIC_UI_PATH_RE = re.compile(r"/[A-Za-z][A-Za-z0-9_-]{0,62}")


def check_choice(value: object, what: str, choices: frozenset[str]) -> str:
    if value not in choices:
        raise UnsafeValue(f"refusing to render {what}={str(value)[:80]!r}: unknown value")
    return str(value)


PEM_RE = re.compile(
    r"(?:-----BEGIN (?P<kind>[A-Z0-9 ]{1,40})-----\n[A-Za-z0-9+/=\n]{1,20000}-----END (?P=kind)-----\n)+"
)


def check_pem(value: object, what: str) -> str:
    """PEM blocks only (a certificate file or a key file): nothing Apache could read as a directive."""
    text = value if isinstance(value, str) else ""
    if not PEM_RE.fullmatch(text):
        raise UnsafeValue(f"refusing to write {what}: not PEM")
    return text


def check_listen(value: str, what: str = "http_listen") -> str:
    text = check_pattern(value, what, LISTEN_RE, extra_allowed="*[]")
    if not 1 <= int(text.rsplit(":", 1)[-1]) <= 65535:
        raise UnsafeValue(f"refusing to render {what}={text!r}: port out of range")
    return text if ":" in text else f"*:{text}"  # a bare port in <VirtualHost> would be read as a host


def check_host(value: str, what: str) -> str:
    text = check_pattern(value, what, HOST_RE)
    return f"[{text}]" if ":" in text else text


def check_health_path(value: object) -> str:
    """A Zope server's health path (hcuri): the very rule hostpanel.validators applies on the way in."""
    if not isinstance(value, str):
        raise UnsafeValue(f"refusing to render health_path={value!r}: not text")
    try:
        validate_health_path(value)
    except ValidationError:
        raise UnsafeValue(f"refusing to render health_path={value[:80]!r}: not a valid health path") from None
    return value


MANAGE_ACCESS = frozenset(ManageAccess.values)


def check_methods(value: object, what: str = "blocked_methods") -> tuple[str, ...]:
    """Distinct names of BLOCKABLE_METHODS, in that order (what the model stores)."""
    if not isinstance(value, tuple | list) or not all(isinstance(m, str) for m in value):
        raise UnsafeValue(f"refusing to render {what}={str(value)[:80]!r}: not a list of methods")
    wanted = [m for m in BLOCKABLE_METHODS if m in value]
    if list(value) != wanted:
        raise UnsafeValue(
            f"refusing to render {what}={str(value)[:80]!r}: not distinct methods among {', '.join(BLOCKABLE_METHODS)}"
        )
    return tuple(wanted)


def check_passthrough(value: object, what: str = "passthrough_paths") -> tuple[str, ...]:
    """Distinct plain paths, sorted (hostpanel.validators.normalize_passthrough_paths is the rule)."""
    if not isinstance(value, tuple | list):
        raise UnsafeValue(f"refusing to render {what}={str(value)[:80]!r}: not a list of paths")
    try:
        paths = normalize_passthrough_paths(list(value))
    except ValidationError as exc:
        raise UnsafeValue(f"refusing to render {what}: {' '.join(exc.messages)[:200]}") from None
    if paths != list(value):
        raise UnsafeValue(f"refusing to render {what}={str(value)[:80]!r}: not sorted distinct paths")
    return tuple(paths)


def staff_expression(networks: object) -> str:
    """The ap_expr that is true for a client of the staff networks (HOSTPANEL_STAFF_NETWORKS), written once
    into the routing rules: `-R 'cidr' || ...` (-R: the client address is in the network); "false" when none."""
    if not isinstance(networks, tuple | list):
        raise UnsafeValue("refusing to render the staff networks: not a list")
    parts = []
    for item in networks:
        try:
            network = ipaddress.ip_network(item, strict=True) if isinstance(item, str) else None
        except ValueError:
            network = None
        if network is None or str(network) != item:
            raise UnsafeValue(f"refusing to render staff network {str(item)[:60]!r}: not a network in CIDR notation")
        parts.append(f"-R '{network}'")
    return " || ".join(parts) or "false"
