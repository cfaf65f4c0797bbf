"""Small parsers of Apache syntax the recogniser needs (pure): mod_rewrite's own argument and flag
splitting, URLs, route-safe names, and a vhost's RewriteRules with the RewriteConds before each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from importer.tokenizer import Directive, Node, Section

VHM_PATTERNS = frozenset({"^/(.*)", "^/(.*)$", "/(.*)", "/(.*)$"})
VHM_TARGET = re.compile(
    r"^balancer://(?P<name>[^/]+)/VirtualHostBase/(?P<scheme>[a-z]+)/(?P<host>%\{HTTP_HOST\}|%\{SERVER_NAME\}|[^/:]+)"
    r"(?::(?P<port>[0-9]+))?(?P<path>(?:/[^/]+)*?)/VirtualHostRoot/\$1$"
)
# Any VirtualHostMonster target: to a balancer, or straight to one Zope (or a cache in front of it) by URL.
# `vh`: the `_vh_` segments after VirtualHostRoot (a Plone site mounted under a sub-path of the host).
VHM_ANY = re.compile(
    r"^(?:balancer://(?P<name>[^/]+)|http://(?P<zhost>\[[0-9A-Fa-f:]+\]|[^/:]+)(?::(?P<zport>[0-9]+))?)"
    r"/VirtualHostBase/(?P<scheme>[a-z]+)/(?P<host>%\{HTTP_HOST\}|%\{SERVER_NAME\}|[^/:]+)"
    r"(?::(?P<port>[0-9]+))?(?P<path>(?:/[^/]+)*?)/VirtualHostRoot(?P<vh>(?:/_vh_[^/]+)*)/?\$1$"
)
ENV_REF = re.compile(r"%\{ENV:([A-Za-z0-9_]+)\}")
STICKY_HEADER = re.compile(
    r"^(?P<name>[A-Za-z0-9_-]+)=balancer\.%\{BALANCER_WORKER_ROUTE\}e(?P<attrs>(?:;.*)?)$", re.IGNORECASE
)


def rewrite_args(raw: str) -> list[str]:
    """Split RewriteRule/RewriteCond arguments as mod_rewrite does (its own parser, not ap_getword_conf):
    quotes group, a backslash escapes only whitespace."""
    words: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        while i < n and raw[i].isspace():
            i += 1
        if i >= n:
            break
        quote = raw[i] if raw[i] in "\"'" else ""
        i += 1 if quote else 0
        out: list[str] = []
        while i < n:
            ch = raw[i]
            if (quote and ch == quote) or (not quote and ch.isspace()):
                break
            if ch == "\\" and i + 1 < n and raw[i + 1].isspace():
                out.append(raw[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        i += 1 if quote else 0
        words.append("".join(out))
    return words


def rewrite_flags(text: str) -> list[str]:
    if not (text.startswith("[") and text.endswith("]")):
        return [text]
    return [f.strip() for f in text[1:-1].split(",") if f.strip()]


def split_outside_braces(text: str, sep: str) -> list[str]:
    """Split on sep, except inside %{...} (e.g. a CO flag's `.%{HTTP:X-Forwarded-Server}`)."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == sep and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def parse_url(text: str) -> Url | None:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return Url(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80), parts.path)


def derive_name(host: str, port: int, taken: set[str]) -> str:
    """A route-safe name for a Zope server that has no route (e.g. a hot-standby member)."""
    is_ip = host.replace(".", "").isdigit() or ":" in host
    first = f"{host}-{port}" if is_ip else host.split(".")[0]
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", first).strip("-") or "zope"
    name = base if base not in taken else f"{base}-{port}"
    suffix = 2
    while name in taken:
        name = f"{base}-{port}-{suffix}"
        suffix += 1
    return name


@dataclass
class Rule:
    directive: Directive
    pattern: str
    target: str
    flags: list[str]
    conds: list[Directive]


def rules_of(vhost: Section) -> tuple[list[Rule], list[Directive]]:
    """The vhost's RewriteRules with the RewriteConds before each, and its other directives."""
    rules: list[Rule] = []
    conds: list[Directive] = []
    others: list[Directive] = []
    for child in vhost.children:
        if not isinstance(child, Directive):
            continue
        if child.key == "rewritecond":
            conds.append(child)
        elif child.key == "rewriterule":
            words = rewrite_args(child.raw_args)
            flags = rewrite_flags(words[2]) if len(words) > 2 else []
            rules.append(Rule(child, words[0] if words else "", words[1] if len(words) > 1 else "", flags, conds))
            conds = []
        else:
            others.append(child)
    others.extend(conds)  # conditions with no rule after them
    return rules, others


def names_of(vhost: Section) -> tuple[Directive | None, list[Directive]]:
    server_name = next((c for c in vhost.children if isinstance(c, Directive) and c.key == "servername"), None)
    aliases = [c for c in vhost.children if isinstance(c, Directive) and c.key == "serveralias"]
    return server_name, aliases


def vhost_names(vhost: Section) -> list[str]:
    server_name, aliases = names_of(vhost)
    names = [server_name.args[0]] if server_name and server_name.args else []
    names += [a for d in aliases for a in d.args]
    out = []
    for name in names:
        name = re.sub(r"^https?://", "", name, flags=re.IGNORECASE)
        if re.fullmatch(r".*:[0-9]+", name):
            name = name.rsplit(":", 1)[0]
        out.append(name.lower())
    return out


def is_https_vhost(vhost: Section) -> bool:
    engine = any(
        isinstance(c, Directive) and c.key == "sslengine" and [a.lower() for a in c.args] == ["on"]
        for c in vhost.children
    )
    return engine or any(a.endswith(":443") for a in vhost.args)


def proxies_traffic(vhost: Section) -> bool:
    """[P], ProxyPass to a URL, or a balancer inside: this vhost sends requests on somewhere."""
    for child in _walk(vhost.children):
        if (
            isinstance(child, Section)
            and child.key == "proxy"
            and child.args[:1]
            and child.args[0].lower().startswith("balancer://")
        ):
            return True
        if isinstance(child, Directive):
            if child.key == "rewriterule":
                words = rewrite_args(child.raw_args)
                flags = words[2].strip("[]").upper().split(",") if len(words) > 2 else []
                if "P" in [f.strip() for f in flags]:
                    return True
            elif child.key in ("proxypass", "proxypassmatch") and any(
                "://" in a for a in child.args[1:2] or child.args[:1]
            ):
                return True
    return False


def _walk(nodes: list[Node]):
    for node in nodes:
        yield node
        if isinstance(node, Section):
            yield from _walk(node.children)
