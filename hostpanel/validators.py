"""Every value that can reach an Apache config is validated here, and only here.

Apache configuration has no escaping: a newline, a quote or a `<` in a value is a config injection.
The models call these validators from `full_clean()`, so the web forms, the REST API, the CSV
importer, the admin and the management commands all get the same checks and the same messages.
The renderer re-checks the same patterns (defence in depth) through `assert_config_safe()`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# Characters that are never allowed in any value that reaches a config, with the words we say.
_FORBIDDEN_NAMES = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    " ": "a space",
    '"': "a double quote",
    "'": "a single quote",
    "`": "a backquote",
    "<": "'<'",
    ">": "'>'",
    "%": "'%'",
    "$": "'$'",
    "\\": "a backslash",
    "#": "'#'",
    ";": "';'",
    "*": "'*'",
    "{": "'{'",
    "}": "'}'",
    "|": "'|'",
    "&": "'&'",
    "=": "'='",
    "?": "'?'",
    "!": "'!'",
    "^": "'^'",
    "(": "'('",
    ")": "')'",
    "[": "'['",
    "]": "']'",
    ",": "','",
    "@": "'@'",
    "+": "'+'",
}

_LABEL_RE = re.compile(r"^[a-z0-9-]+$")
_ROUTE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
_FS_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~+-]+$")
_SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_LISTEN_RE = re.compile(r"^(?:(?P<host>\*|[0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(?P<port>[0-9]{1,5})$")
_SSH_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

MAX_HOSTNAME = 253
MAX_LABEL = 63


def _forbidden(value: str, allowed: str = "") -> str | None:
    """Name the first forbidden character in value (or None)."""
    for ch in value:
        if ch in allowed:
            continue
        if ch in _FORBIDDEN_NAMES:
            return _FORBIDDEN_NAMES[ch]
        if ord(ch) < 32 or ord(ch) == 127:
            return f"a control character (U+{ord(ch):04X})"
    return None


def _reject_forbidden(value: str, what: str, allowed: str = "") -> None:
    bad = _forbidden(value, allowed)
    if bad:
        raise ValidationError(f"{what} must not contain {bad}.", code="invalid_character")


def validate_no_control_characters(value: str) -> None:
    """Free text (descriptions, reasons, references): no newline, tab or other control character."""
    match = _CONTROL_RE.search(value or "")
    if match:
        ch = match.group()
        name = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(ch, f"U+{ord(ch):04X}")
        raise ValidationError(f"This value must not contain {name}.", code="invalid_character")


def normalize_hostname(value: str) -> str:
    """Lower-case a host name and encode an internationalised one as punycode (IDNA).

    Characters that could break out of a directive are refused before IDNA processing, so that
    nameprep cannot silently map them to something harmless-looking.
    """
    value = value or ""
    _reject_forbidden(value, "A host name")
    if value.endswith(".") and not value.endswith(".."):
        value = value[:-1]  # a fully qualified name's final dot
    if not value:
        raise ValidationError("A host name is required.", code="required")
    if value.isascii():
        return value.lower()
    try:
        return value.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValidationError(
            "%(value)s is not a valid internationalised domain name.", code="invalid_idn", params={"value": value}
        ) from None


def validate_hostname(value: str) -> None:
    """A DNS host name in its ASCII (punycode) form: labels of a-z, 0-9 and '-', 1-63 long."""
    _reject_forbidden(value, "A host name")
    if value != value.lower():
        raise ValidationError("A host name must be lower-case.", code="not_lowercase")
    if len(value) > MAX_HOSTNAME:
        raise ValidationError(
            f"A host name must be at most {MAX_HOSTNAME} characters long (this one has {len(value)}).",
            code="too_long",
        )
    if not value:
        raise ValidationError("A host name is required.", code="required")
    for label in value.split("."):
        if not label:
            raise ValidationError(
                "A host name must not contain an empty label ('..' or a leading '.').", code="empty_label"
            )
        if len(label) > MAX_LABEL:
            raise ValidationError(
                f"Each label of a host name must be at most {MAX_LABEL} characters ('{label[:20]}…' has {len(label)}).",
                code="label_too_long",
            )
        if not _LABEL_RE.match(label):
            raise ValidationError(
                "A host name may contain only letters, digits, '-' and '.' (internationalised names are converted).",
                code="invalid_character",
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValidationError(f"A label must not start or end with a hyphen ('{label}').", code="hyphen")


def validate_domain(value: str) -> None:
    """A client site's domain or alias: a host name with at least two labels."""
    validate_hostname(value)
    if "." not in value:
        raise ValidationError("A site's domain needs at least two labels, like example.com.", code="single_label")
    if value.rsplit(".", 1)[-1].isdigit():
        raise ValidationError("A site's domain must be a name, not an IP address.", code="ip_address")


def validate_host(value: str) -> None:
    """A server address: a host name or an IPv4/IPv6 address (IPv6 without brackets)."""
    _reject_forbidden(value, "A host")
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if value and value.replace(".", "").isdigit():
        raise ValidationError(f"{value} is not a valid IPv4 address.", code="invalid_ip")
    validate_hostname(value)


def validate_route(value: str) -> None:
    """A Zope server's name is its balancer route. Apache reads the route after the first '.' of
    the cookie value, so a '.' inside a route would never match."""
    if "." in value:
        raise ValidationError(
            "A route must not contain '.': Apache reads the route after the first '.' of the sticky cookie.",
            code="dot_in_route",
        )
    _reject_forbidden(value, "A route")
    if not _ROUTE_RE.match(value or ""):
        raise ValidationError("A route may contain only letters, digits, '_' and '-'.", code="invalid_character")
    if len(value) > 64:
        raise ValidationError("A route must be at most 64 characters long.", code="too_long")


def validate_slug_name(value: str) -> None:
    """A balancer or front-end name: lower-case letters, digits, '-' and '_'."""
    _reject_forbidden(value, "A name")
    if not _SLUG_RE.match(value or ""):
        raise ValidationError(
            "Use lower-case letters, digits, '-' and '_' only, starting and ending with a letter or digit.",
            code="invalid_slug",
        )


def validate_cookie_name(value: str) -> None:
    """The sticky cookie's name: a cookie token restricted to what is safe in Apache directives."""
    if not value:
        raise ValidationError("A cookie name is required.", code="required")
    _reject_forbidden(value, "A cookie name")
    if not _COOKIE_RE.match(value):
        raise ValidationError("A cookie name may contain only letters, digits, '_' and '-'.", code="invalid_character")
    if len(value) > 64:
        raise ValidationError("A cookie name must be at most 64 characters long.", code="too_long")


def _validate_segments(value: str, what: str, segment_re: re.Pattern[str]) -> None:
    if not value.startswith("/"):
        raise ValidationError(f"{what} must start with '/'.", code="not_absolute")
    if "//" in value:
        raise ValidationError(f"{what} must not contain '//'.", code="double_slash")
    _reject_forbidden(value, what, allowed="+" if segment_re is _FS_SEGMENT_RE else "")
    segments = value.strip("/").split("/")
    for segment in segments:
        if segment in {"..", "."}:
            raise ValidationError(f"{what} must not contain '..' or '.' segments.", code="dot_segment")
        if not segment_re.match(segment):
            raise ValidationError(
                f"{what}: segment '{segment}' may contain only letters, digits and . _ ~ -",
                code="invalid_character",
            )


def validate_plone_path(value: str) -> None:
    """The Plone site's path in Zope, e.g. /plone/linux."""
    if len(value) > 255:
        raise ValidationError("A Plone path must be at most 255 characters long.", code="too_long")
    if value.rstrip("/") == "":
        raise ValidationError("A Plone path must name a site, like /plone/linux.", code="root")
    _validate_segments(value, "A Plone path", _PATH_SEGMENT_RE)
    if value.endswith("/"):
        raise ValidationError("A Plone path must not end with '/'.", code="trailing_slash")


# URL paths the rendered config serves itself (rendering.render.SUSPENDED_PATH and NODE_ERROR_PATH; a
# test keeps the two in step): an error document there would be aliased twice, and the renderer refuses it.
RESERVED_URL_PATHS = ("/hostpanel-suspended.html", "/hostpanel-503.html")


def validate_url_path(value: str) -> None:
    """A URL path served by Apache (the balancer's error document), e.g. /ERROR_503.html: a file, so no
    trailing '/', and none of the paths the rendered config reserves for itself."""
    if len(value) > 255:
        raise ValidationError("A URL path must be at most 255 characters long.", code="too_long")
    if value == "/" or (value.startswith("/") and value.endswith("/")):
        raise ValidationError(
            "The error document must name a file, like /ERROR_503.html (no trailing '/').", code="root"
        )
    _validate_segments(value, "A URL path", _PATH_SEGMENT_RE)
    if value in RESERVED_URL_PATHS:
        raise ValidationError(
            f"{value} is reserved for HostPanel's own error pages; choose another path.", code="reserved"
        )


def validate_config_dir(value: str) -> None:
    """An absolute directory on a front-end where the rendered tree is deployed."""
    if not value.startswith("/"):
        raise ValidationError("The config directory must be an absolute path (starting with '/').", code="relative")
    if value.rstrip("/") == "":
        raise ValidationError("The config directory must not be '/'.", code="root")
    if len(value) > 255:
        raise ValidationError("The config directory must be at most 255 characters long.", code="too_long")
    _validate_segments(value, "The config directory", _FS_SEGMENT_RE)


def validate_ssh_user(value: str) -> None:
    _reject_forbidden(value, "An SSH user")
    if not _SSH_USER_RE.match(value or ""):
        raise ValidationError(
            "An SSH user name is 1-32 characters of lower-case letters, digits, '_', '-' and '.'.",
            code="invalid_user",
        )


def validate_ssh_host_key(value: str) -> None:
    """One OpenSSH public key line: `<type> <base64 blob> [comment]`, e.g. from ssh-keyscan or
    /etc/ssh/ssh_host_ed25519_key.pub. The blob must decode and name the same key type."""
    value = value or ""
    if "\n" in value.strip() or "\r" in value.strip():
        raise ValidationError("The host key must be exactly one line.", code="multiline")
    parts = value.strip().split()
    if len(parts) < 2:
        raise ValidationError(
            "The host key must look like 'ssh-ed25519 AAAA…' (one line from the host's *.pub file).",
            code="malformed",
        )
    key_type, blob = parts[0], parts[1]
    if key_type not in _SSH_KEY_TYPES:
        raise ValidationError(
            f"Unknown host key type '{key_type[:40]}'; expected one of {', '.join(sorted(_SSH_KEY_TYPES))}.",
            code="unknown_type",
        )
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("The host key's data is not valid base64.", code="bad_base64") from None
    try:
        (length,) = struct.unpack(">I", raw[:4])
        embedded = raw[4 : 4 + length].decode("ascii")
    except (struct.error, UnicodeDecodeError):
        raise ValidationError("The host key's data is not an SSH public key.", code="bad_blob") from None
    if embedded != key_type:
        raise ValidationError(
            f"The host key's data is a '{embedded[:40]}' key, not '{key_type}'.", code="type_mismatch"
        )
    if len(raw) < 4 + length + 16:
        raise ValidationError("The host key's data is too short to be a key.", code="bad_blob")


def validate_listen(value: str) -> None:
    """An Apache Listen/VirtualHost address: '*:80', '127.0.0.1:8080', '[::1]:80' or '80'."""
    _reject_forbidden(value, "A listen address", allowed="*[]")
    match = _LISTEN_RE.match(value or "")
    if not match:
        raise ValidationError(
            "Use HOST:PORT (e.g. '*:80' or '127.0.0.1:8080') or a port number.", code="invalid_listen"
        )
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise ValidationError("The port must be between 1 and 65535.", code="invalid_port")
    host = match.group("host")
    if host and host != "*" and not host.startswith("["):
        validate_host(host)
    if host and host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValidationError(f"{host} is not a valid IPv6 address.", code="invalid_ip") from None


def validate_port(value: int) -> None:
    if value is None or not 1 <= int(value) <= 65535:
        raise ValidationError("A port must be between 1 and 65535.", code="invalid_port")


def validate_node_ports(base: int, servers: int) -> None:
    """Node-vhosts mode gives each Zope server the port base + its place in name order
    (rendering.manifest.node_ports): the last one must still be a port, or the renderer refuses the tree."""
    if base is not None and servers > 0 and base + servers - 1 > 65535:
        raise ValidationError(
            f"With {servers} Zope server(s) the node ports would run from {base} to {base + servers - 1}, "
            f"past 65535: choose a first node port of at most {65536 - servers}.",
            code="node_port_range",
        )


def validate_command(value: str) -> None:
    """A shell command run on a front-end (configtest, reload): one line, no control characters."""
    if not (value or "").strip():
        raise ValidationError("A command is required.", code="required")
    validate_no_control_characters(value)
    if len(value) > 500:
        raise ValidationError("A command must be at most 500 characters long.", code="too_long")


_url_validator = URLValidator(schemes=["http", "https"])


def validate_http_url(value: str) -> None:
    """An http(s) URL the panel fetches (balancer-manager, health check)."""
    if _CONTROL_RE.search(value or "") or " " in (value or ""):
        raise ValidationError("A URL must not contain spaces or control characters.", code="invalid_character")
    _url_validator(value)


# Apache-facing values are also re-checked by the renderer with this pattern: nothing that could
# end a directive, open a section, start a comment, quote, or expand a variable.
CONFIG_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f\"'`<>%$\\#;{}|&!^()\[\],@+*=?]")


def assert_config_safe(value: object, what: str, *, extra_allowed: str = "") -> str:
    """Raise ValueError if value could break out of an Apache directive; return it as text."""
    text = str(value)
    for ch in text:
        if CONFIG_UNSAFE_RE.match(ch) and ch not in extra_allowed:
            raise ValueError(f"refusing to render {what}={text[:80]!r}: unsafe character {ch!r}")
    if not text:
        raise ValueError(f"refusing to render an empty {what}")
    return text


def normalize_networks(value: object) -> list[str]:
    """An API token's allowed client networks: a list of CIDRs (a bare address means one host).
    Returns them in canonical form (host bits must be zero: 10.0.0.0/8, not 10.1.2.3/8)."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list | tuple):
        raise ValidationError("Give a list of networks in CIDR notation, like 192.0.2.0/24.", code="invalid")
    networks: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError("Each network must be a CIDR like 192.0.2.0/24 or 2001:db8::/32.", code="invalid")
        if _CONTROL_RE.search(item) or " " in item.strip():
            raise ValidationError("A network must not contain spaces or control characters.", code="invalid_character")
        try:
            network = ipaddress.ip_network(item.strip(), strict=True)
        except ValueError as exc:
            raise ValidationError(
                "%(value)s is not a network in CIDR notation (%(reason)s).",
                code="invalid_network",
                params={"value": item.strip()[:60], "reason": str(exc)[:120]},
            ) from None
        if str(network) not in networks:
            networks.append(str(network))
    return networks


def validate_request_path(value: str) -> None:
    """A path the panel itself requests from a Zope server (health check, e.g. /@@ok): never in a config."""
    if not (value or "").startswith("/") or len(value) > 255 or re.search(r"[\x00-\x20\x7f#]", value):
        raise ValidationError("A request path starts with '/' and has no spaces, '#' or control characters.")


_HEALTH_PATH_RE = re.compile(r"/[A-Za-z0-9._~@+=/-]*")


def validate_health_path(value: str) -> None:
    """The path front-ends request to check a server (mod_proxy_hcheck's hcuri, written into the
    config): '/' or a plain path of letters, digits and . _ ~ @ + = - (no query, quotes or spaces)."""
    if len(value or "") > 200 or not _HEALTH_PATH_RE.fullmatch(value or "") or "//" in value or "/../" in f"{value}/":
        raise ValidationError(
            "A health path starts with '/' and holds only letters, digits and . _ ~ @ + = - / "
            "(e.g. / or /health); no query, spaces or quotes.",
            code="invalid",
        )


_CLASSIC_UI_PATH_RE = re.compile(r"/[A-Za-z][A-Za-z0-9_-]{0,62}")


def validate_classic_ui_path(value: str) -> None:
    """The path under which a Volto site keeps Plone's Classic UI for staff (e.g. /ClassicUI): one segment
    of letters, digits, '_' and '-' starting with a letter. Zope sees it as `_vh_<segment>`, and it must not
    shadow the frontend's or the API's own paths."""
    if not value:
        return
    if not _CLASSIC_UI_PATH_RE.fullmatch(value):
        raise ValidationError(
            "The Classic UI path is one segment starting with a letter, of letters, digits, '_' and '-', "
            "like /ClassicUI.",
            code="invalid",
        )
    if value.lower() in {"/static", "/ok", "/api", "/health", "/sitemap", "/robots"}:
        raise ValidationError(f"{value} is a path of the Volto frontend itself; choose another.", code="reserved")


# --- site options (sites.Site: manage_access, blocked_methods, passthrough_paths, edit_host) ----------

# HTTP methods a site may have Apache refuse (405) before Zope sees them: Zope's WebDAV server answers
# PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK and UNLOCK on every object; plone.restapi uses
# PUT, PATCH and DELETE; OPTIONS and TRACE are answered by Zope too. GET, HEAD and POST are never blocked
# (the site would stop working). In this order in a normalised list (and in the routing map).
BLOCKABLE_METHODS = (
    "PUT",
    "DELETE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "OPTIONS",
    "TRACE",
)
MAX_PASSTHROUGH_PATHS = 20
MAX_PASSTHROUGH_PATH = 100
MAX_PASSTHROUGH_TOTAL = 400


def normalize_blocked_methods(value: object) -> list[str]:
    """A list of HTTP method names (or one text separated by commas or spaces), upper-cased, each once,
    in BLOCKABLE_METHODS order. Refuses any method not in that fixed set."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").replace(";", " ").split()
    if not isinstance(value, list | tuple):
        raise ValidationError("Give a list of HTTP methods, like PUT, DELETE.", code="invalid")
    wanted: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError("Each method must be a name like PUT or DELETE.", code="invalid")
        method = item.strip().upper()
        if method not in BLOCKABLE_METHODS:
            raise ValidationError(
                "%(value)s cannot be blocked: choose among %(choices)s.",
                code="invalid_method",
                params={"value": item.strip()[:30], "choices": ", ".join(BLOCKABLE_METHODS)},
            )
        wanted.add(method)
    return [method for method in BLOCKABLE_METHODS if method in wanted]


def validate_blocked_methods(value: object) -> None:
    if not isinstance(value, list) or normalize_blocked_methods(value) != value:
        raise ValidationError(
            "Blocked methods must be a list of distinct names among %(choices)s, in that order.",
            code="invalid",
            params={"choices": ", ".join(BLOCKABLE_METHODS)},
        )


def validate_passthrough_path(value: str) -> None:
    """One path Apache serves itself instead of proxying to Zope: a prefix ending in '/' (everything
    under it, e.g. /icons/) or one exact path (e.g. /robots.txt). Plain path segments only: no pattern,
    no space, no quote, no query."""
    if not isinstance(value, str) or not value:
        raise ValidationError("A pass-through path is required.", code="required")
    if len(value) > MAX_PASSTHROUGH_PATH:
        raise ValidationError(
            f"A pass-through path must be at most {MAX_PASSTHROUGH_PATH} characters long.", code="too_long"
        )
    if value == "/":
        raise ValidationError(
            "'/' would pass everything: the site would no longer reach Zope. Name a sub-path like /static/.",
            code="root",
        )
    if not value.startswith("/"):
        raise ValidationError(f"{value[:40]!r}: a pass-through path must start with '/'.", code="not_absolute")
    if any(ch in value for ch in "*?^$()[]{}|\\+"):
        raise ValidationError(
            f"{value[:40]!r}: a pass-through path is a plain path (a prefix ending in '/' or one exact path), "
            "not a pattern.",
            code="pattern",
        )
    _validate_segments(value, "A pass-through path", _PATH_SEGMENT_RE)
    if value in RESERVED_URL_PATHS:
        raise ValidationError(f"{value} is reserved for HostPanel's own error pages.", code="reserved")


def normalize_passthrough_paths(value: object) -> list[str]:
    """A list of pass-through paths (or one text, one per line or separated by spaces or commas), each
    validated, each once, sorted."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").replace(";", " ").split()
    if not isinstance(value, list | tuple):
        raise ValidationError("Give a list of paths, like /icons/ /robots.txt.", code="invalid")
    paths: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise ValidationError("Each pass-through path must be text, like /static/.", code="invalid")
        validate_passthrough_path(item.strip())
        paths.add(item.strip())
    if len(paths) > MAX_PASSTHROUGH_PATHS:
        raise ValidationError(f"At most {MAX_PASSTHROUGH_PATHS} pass-through paths per site.", code="too_many")
    if sum(len(path) + 1 for path in paths) > MAX_PASSTHROUGH_TOTAL:
        # they go into each of the site's routing map lines, which Apache reads into 1,024 bytes
        raise ValidationError(
            f"The pass-through paths of a site may total at most {MAX_PASSTHROUGH_TOTAL} characters.", code="too_long"
        )
    return sorted(paths)


def validate_passthrough_paths(value: object) -> None:
    if not isinstance(value, list) or normalize_passthrough_paths(value) != value:
        raise ValidationError("Pass-through paths must be a sorted list of distinct paths.", code="invalid")


def parse_staff_networks(value: object) -> tuple[str, ...]:
    """HOSTPANEL_STAFF_NETWORKS: CIDRs whose clients count as staff (a site's management interface with
    manage_access "staff", every edit host). Rendered once into the routing rules."""
    return tuple(normalize_networks(value))


_ALERT_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_alert_file_name(value: str) -> None:
    """A file alert channel's target: one file name (letters, digits, '.', '-', '_'; no '/', no '..'), always
    written under HOSTPANEL_VAR_DIR/alerts/ (alerts.delivery.alert_file_path), never anywhere else."""
    if not _ALERT_FILE_RE.fullmatch(value or "") or ".." in value:
        raise ValidationError(
            "Give a file name only (letters, digits, '.', '-' and '_', e.g. alerts.jsonl): it is written under the "
            "panel's var directory, in alerts/.",
            code="invalid_alert_file",
        )
