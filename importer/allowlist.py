"""What of an imported config the equivalence check may run (pure): an allowlist, never a denylist.

    line = rerun(directive, maps)     # a line re-emitted from the parsed values, or raises NotRun(why)

The throwaway copy of an imported config runs on the panel's own host. A denylist misses something
sooner or later (`GlobalLog "|cmd"`, `SSLRandomSeed startup exec:`, `SSLPassPhraseDialog exec:`,
`Header ... expr=%{file:...}`, `<If "file(...)">`, a module's own piped log): so only the directives
that decide where a request is routed run, each with its arguments checked one by one and written
again from the parsed words (never the imported text). Everything else raises `NotRun`, and the
report names it with its file and line.

Nothing here can start a program, load code or read a file outside what the check writes itself:
no piped logs or `exec:`/`prg:` (not on the list), no `expr` (refused wherever a directive takes one),
no filesystem test in a RewriteCond, no `RewriteMap` file other than one read with the imported tree
(written into the check's own directory by the caller), no `unix:` or other socket targets, and
filesystem paths (Alias, DocumentRoot) point at an empty directory of the check's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from importer.recognise.syntax import rewrite_args, rewrite_flags
from importer.tokenizer import Directive


class NotRun(ValueError):
    """The directive is left out of the throwaway copy; the message says why (for the report)."""


HOST = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?[A-Za-z0-9*?_.-]+(?::[0-9]{1,5})?")
NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
INT = re.compile(r"[0-9]{1,9}")
URL_PATH = re.compile(r"[^\s\"'\\]{1,2000}")
PROXY_URL = re.compile(r"(?:(?:https?|balancer|wss?)://[^\s\"'\\|]{1,2000}|!)", re.IGNORECASE)
REDIRECT_STATUS = re.compile(r"(?:permanent|temp|seeother|gone|[1-5][0-9][0-9])", re.IGNORECASE)
IP_OR_CIDR = re.compile(r"[0-9a-fA-F:.]{1,45}(?:/[0-9]{1,3})?")
ON_OFF = ("on", "off")

# mod_rewrite flags that only route, redirect or set variables/cookies (H= sets a handler: not run)
REWRITE_FLAGS = frozenset(
    [
        "b",
        "bnp",
        "backrefnoplus",
        "bctls",
        "bne",
        "c",
        "chain",
        "co",
        "cookie",
        "dpi",
        "discardpath",
        "e",
        "env",
        "end",
        "f",
        "forbidden",
        "g",
        "gone",
        "l",
        "last",
        "nc",
        "nocase",
        "ne",
        "noescape",
        "ns",
        "nosubreq",
        "p",
        "proxy",
        "pt",
        "passthrough",
        "qsa",
        "qsappend",
        "qsd",
        "qsdiscard",
        "qsl",
        "qslast",
        "r",
        "redirect",
        "s",
        "skip",
        "t",
        "type",
    ]
)
REWRITECOND_FLAGS = frozenset({"nc", "nocase", "or", "ornext", "nv", "novary"})
# RewriteCond patterns that look at the filesystem or make subrequests (-d -f -F -h -l -L -s -U -x)
FILE_TESTS = re.compile(r"!?-[dfFhlLsUx]$")
REWRITE_OPTIONS = frozenset(
    [
        "inherit",
        "inheritbefore",
        "inheritdown",
        "inheritdownbefore",
        "ignoreinherit",
        "allownoslash",
        "allowanyuri",
        "mergebase",
        "ignorecontextinfo",
        "legacyprefixdocroot",
        "longurloptimization",
    ]
)
INTERNAL_MAPS = frozenset({"toupper", "tolower", "escape", "unescape"})
# BalancerMember / ProxyPass worker parameters and ProxySet balancer parameters that only tune routing
WORKER_PARAMS = frozenset(
    [
        "loadfactor",
        "lbset",
        "route",
        "redirect",
        "status",
        "retry",
        "timeout",
        "connectiontimeout",
        "ping",
        "min",
        "max",
        "smax",
        "ttl",
        "keepalive",
        "disablereuse",
        "enablereuse",
        "flushpackets",
        "flushwait",
        "iobuffersize",
        "receivebuffersize",
        "responsefieldsize",
        "lbmethod",
        "stickysession",
        "stickysessionsep",
        "nofailover",
        "maxattempts",
        "failonstatus",
        "failontimeout",
        "growth",
        "forcerecovery",
        "scolonpathdelim",
    ]
)
HEADER_ACTIONS = frozenset({"set", "append", "add", "unset", "merge", "setifempty", "echo", "edit", "edit*"})
SAFE_HANDLERS = frozenset({"balancer-manager", "server-status", "none"})


def quote(word: str) -> str:
    """A word as ap_getword_conf reads it back (inside quotes only \\\\ and \\" are escapes)."""
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rewrite_word(word: str) -> str:
    """A word as mod_rewrite's own parser reads it back (a backslash escapes whitespace; no quote escapes)."""
    if word[:1] in "\"'":
        raise NotRun("an argument that starts with a quote cannot be written back safely")
    return re.sub(r"(\s)", r"\\\1", word)


def _line(d: Directive, *words: str) -> str:
    return " ".join([d.name, *(quote(w) for w in words)])


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise NotRun(why)


def _no_expr(words: tuple[str, ...] | list[str]) -> None:
    _need(not any("expr" in w.lower() for w in words), "an expression (ap_expr can read files)")


def _hosts(d: Directive, _: Maps) -> str:
    _need(bool(d.args) and all(HOST.fullmatch(a) for a in d.args), "a host name it does not accept")
    return _line(d, *d.args)


def _on_off(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and d.args[0].lower() in ON_OFF, "a value other than On/Off")
    return _line(d, d.args[0])


def _proxy_requests(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and d.args[0].lower() == "off", "ProxyRequests On (a forward proxy)")
    return _line(d, "Off")


def _number(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and bool(INT.fullmatch(d.args[0])), "a value that is not a number")
    return _line(d, d.args[0])


def _canonical(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and d.args[0].lower() in ("on", "off", "dns"), "a value other than On/Off/DNS")
    return _line(d, d.args[0])


def _rewrite_options(d: Directive, _: Maps) -> str:
    _need(bool(d.args) and all(a.lower() in REWRITE_OPTIONS for a in d.args), "an option it does not know")
    return _line(d, *d.args)


def _path(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and bool(URL_PATH.fullmatch(d.args[0])), "a path it does not accept")
    return _line(d, d.args[0])


def _rewrite_cond(d: Directive, _: Maps) -> str:
    words = rewrite_args(d.raw_args)
    _need(len(words) in (2, 3), "not a TestString, a pattern and optional flags")
    test, pattern = words[0], words[1]
    _need(test.lower() != "expr", "an expression (ap_expr can read files)")
    _need("%{LA-" not in test.upper(), "a look-ahead (a subrequest)")
    _need(not FILE_TESTS.match(pattern), f"a filesystem test ({pattern})")
    if len(words) == 3:
        flags = rewrite_flags(words[2])
        _need(all(f.lower() in REWRITECOND_FLAGS for f in flags), "a flag it does not know")
    return " ".join([d.name, *(_rewrite_word(w) for w in words)])


def _rewrite_rule(d: Directive, maps: Maps) -> str:
    words = rewrite_args(d.raw_args)
    _need(len(words) in (2, 3), "not a pattern, a substitution and optional flags")
    for name in re.findall(r"\$\{([^:}]+):", words[1]):
        _need(name in maps.names, f"the RewriteMap {name!r}, which is not run")
    if len(words) == 3:
        for flag in rewrite_flags(words[2]):
            _need(flag.split("=", 1)[0].lower() in REWRITE_FLAGS, f"the flag {flag.split('=', 1)[0]} (not run)")
    return " ".join([d.name, *(_rewrite_word(w) for w in words)])


def _rewrite_map(d: Directive, maps: Maps) -> str:
    kind, _, where = (d.args[1] if len(d.args) > 1 else "").partition(":")
    kind = kind.lower()
    _need(kind in ("txt", "rnd", "dbm", "int"), f"a {kind}: map (only txt, rnd, dbm and int maps run)")
    _need(len(d.args) == 2 and bool(NAME.fullmatch(d.args[0])), "not a map name and a source")
    name = d.args[0]
    if kind == "int":
        _need(where.lower() in INTERNAL_MAPS, f"the internal function {where!r}")
        maps.names.add(name)
        return _line(d, name, f"int:{where}")
    copy = maps.copy_of(where)
    _need(copy is not None, f"the map file {where}, which was not read with the config")
    maps.names.add(name)
    return _line(d, name, f"{'rnd' if kind == 'rnd' else 'txt'}:{copy}")  # a dbm runs as the text it came from


def _proxy_pass(d: Directive, _: Maps) -> str:
    _need(len(d.args) >= 2, "not a path and a URL")
    _need(bool(URL_PATH.fullmatch(d.args[0])) and bool(PROXY_URL.fullmatch(d.args[1])), "a target it does not run")
    _params(d.args[2:])
    return _line(d, *d.args)


def _proxy_pass_reverse(d: Directive, _: Maps) -> str:
    _need(len(d.args) in (2, 3), "not a path and a URL")
    _need(all(URL_PATH.fullmatch(a) for a in d.args), "an argument it does not accept")
    return _line(d, *d.args)


def _params(words: tuple[str, ...] | list[str]) -> None:
    for word in words:
        key, sep, value = word.partition("=")
        _need(bool(sep) and key.lower() in WORKER_PARAMS, f"the parameter {key} (not run)")
        _need(bool(re.fullmatch(r"[A-Za-z0-9_.,;|+-]{0,200}", value)), f"the value of {key}")


def _member(d: Directive, _: Maps) -> str:
    _need(bool(d.args) and bool(re.fullmatch(r"https?://[^\s\"'\\|]{1,2000}", d.args[0], re.IGNORECASE)), "its URL")
    _params(d.args[1:])
    return _line(d, *d.args)


def _proxy_set(d: Directive, _: Maps) -> str:
    words = d.args[1:] if d.args and "://" in d.args[0] else d.args
    _need(not d.args or "://" not in d.args[0] or bool(PROXY_URL.fullmatch(d.args[0])), "its URL")
    _params(words)
    return _line(d, *d.args)


def _header(d: Directive, _: Maps) -> str:
    words = list(d.args)
    _no_expr(words)
    rest = words[1:] if words and words[0].lower() in ("always", "onsuccess") else words
    _need(bool(rest) and rest[0].lower() in HEADER_ACTIONS, "an action it does not run")
    _need(all("=" not in w or w.lower().startswith(("env=", "early")) for w in rest[3:]), "a condition")
    return _line(d, *words)


def _error_document(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 2 and bool(re.fullmatch(r"[45][0-9][0-9]", d.args[0])), "not a status and a document")
    return _line(d, *d.args)


def _redirect(d: Directive, _: Maps) -> str:
    words = list(d.args)
    _need(1 <= len(words) <= 3 and all(URL_PATH.fullmatch(w) for w in words), "an argument it does not accept")
    if len(words) == 3:
        _need(bool(REDIRECT_STATUS.fullmatch(words[0])), "a status it does not know")
    return _line(d, *words)


def _set_env_if(d: Directive, _: Maps) -> str:
    _need(len(d.args) >= 3, "not an attribute, a pattern and variables")
    _need(bool(re.fullmatch(r"[A-Za-z0-9_-]{1,100}", d.args[0])), "an attribute it does not accept")
    _need(all(re.fullmatch(r"!?[A-Za-z0-9_]{1,100}(=[^\s]{0,200})?", w) for w in d.args[2:]), "a variable")
    return _line(d, *d.args)


def _set_env(d: Directive, _: Maps) -> str:
    _need(1 <= len(d.args) <= 2 and bool(re.fullmatch(r"[A-Za-z0-9_]{1,100}", d.args[0])), "not a variable")
    return _line(d, *d.args)


def _set_handler(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and d.args[0].lower() in SAFE_HANDLERS, f"the handler {' '.join(d.args)}")
    return _line(d, d.args[0])


def _require(d: Directive, _: Maps) -> str:
    words = [a.lower() for a in d.args]
    if words in (["all", "granted"], ["all", "denied"], ["local"]):
        return "Require " + " ".join(words)  # Require reads its line itself: never quoted
    if words == ["valid-user"]:
        return "Require valid-user"  # with the copy's empty password file: every request is refused (401)
    if words[:1] == ["ip"] and len(words) > 1 and all(IP_OR_CIDR.fullmatch(w) for w in words[1:]):
        return "Require " + " ".join(words)
    raise NotRun("a Require other than all granted/denied, local or ip")


def _server_admin(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and bool(re.fullmatch(r"[^\s\"'\\]{1,200}", d.args[0])), "not one address")
    return _line(d, d.args[0])


def _alias(d: Directive, maps: Maps) -> str:
    _need(len(d.args) == 2 and bool(URL_PATH.fullmatch(d.args[0])), "not a URL path and a directory")
    return _line(d, d.args[0], maps.empty_dir)  # the files themselves are never served: an empty directory


def _document_root(d: Directive, maps: Maps) -> str:
    _need(len(d.args) == 1, "not one directory")
    return _line(d, maps.empty_dir)


def _auth_type(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and d.args[0].lower() == "basic", "an AuthType other than Basic")
    return "AuthType Basic"


def _auth_name(d: Directive, _: Maps) -> str:
    _need(len(d.args) == 1 and bool(re.fullmatch(r"[A-Za-z0-9 ._:-]{1,100}", d.args[0])), "a realm it does not accept")
    return _line(d, d.args[0])


def _auth_user_file(d: Directive, maps: Maps) -> str:
    _need(len(d.args) == 1, "not one file")
    # never the real password file: an empty one of the check's own (nobody logs in, as for an
    # anonymous visitor today)
    return _line(d, maps.empty_dir.rsplit("/", 1)[0] + "/" + EMPTY_PASSWORDS)


EMPTY_PASSWORDS = "htpasswd-empty"
# Modules a hand-written config often needs to start, loaded in the old copy when installed (the
# throwaway's own main file loads the proxy, rewrite, headers, ssl... set: devrig.apache.MODULES).
EXTRA_MODULES = ("auth_basic", "authn_core", "authn_file", "authz_user", "deflate", "filter", "setenvif", "expires")


class Maps:
    """What a rewritten directive may refer to: the RewriteMaps that run (by name), the copies of the
    map files read with the config (`copy_of(path as written)` -> the copy's path, or None), and the
    empty directory that stands for every filesystem path."""

    def __init__(self, copy_of: Callable[[str], str | None], empty_dir: str) -> None:
        self.copy_of = copy_of
        self.empty_dir = empty_dir
        self.names: set[str] = set()


RERUN: dict[str, Callable[[Directive, Maps], str]] = {
    "servername": _hosts,
    "serveralias": _hosts,
    "serveradmin": _server_admin,
    "usecanonicalname": _canonical,
    "rewriteengine": _on_off,
    "rewriteoptions": _rewrite_options,
    "rewritebase": _path,
    "rewritecond": _rewrite_cond,
    "rewriterule": _rewrite_rule,
    "rewritemap": _rewrite_map,
    "proxypreservehost": _on_off,
    "proxyrequests": _proxy_requests,
    "proxytimeout": _number,
    "timeout": _number,
    "proxypass": _proxy_pass,
    "proxypassmatch": _proxy_pass,
    "proxypassreverse": _proxy_pass_reverse,
    "proxypassreversecookiedomain": _proxy_pass_reverse,
    "proxypassreversecookiepath": _proxy_pass_reverse,
    "proxypassinherit": _on_off,
    "balancerinherit": _on_off,
    "balancerpersist": _on_off,
    "balancermember": _member,
    "proxyset": _proxy_set,
    "header": _header,
    "requestheader": _header,
    "errordocument": _error_document,
    "redirect": _redirect,
    "redirectmatch": _redirect,
    "redirectpermanent": _redirect,
    "redirecttemp": _redirect,
    "setenvif": _set_env_if,
    "setenvifnocase": _set_env_if,
    "browsermatch": _set_env_if,
    "browsermatchnocase": _set_env_if,
    "setenv": _set_env,
    "unsetenv": _set_env,
    "sethandler": _set_handler,
    "require": _require,
    "authtype": _auth_type,
    "authname": _auth_name,
    "authuserfile": _auth_user_file,
    "alias": _alias,
    "aliasmatch": _alias,
    "documentroot": _document_root,
}

# Sections that are kept (their children go through the same allowlist); any other section is not run.
KEPT_SECTIONS = frozenset({"virtualhost", "proxy", "location", "locationmatch"})


def rerun(d: Directive, maps: Maps) -> str:
    """The directive written again from its parsed values, or NotRun with the reason."""
    handler = RERUN.get(d.key)
    if handler is None:
        raise NotRun("not on the equivalence check's allowlist")
    return handler(d, maps)


def section_args(key: str, args: tuple[str, ...]) -> str:
    """The arguments of a kept section other than <VirtualHost> (whose addresses the caller sets)."""
    if key == "proxy":
        _need(len(args) == 1 and (args[0] == "*" or bool(PROXY_URL.fullmatch(args[0]))), "a target it does not run")
    else:
        _need(len(args) == 1 and bool(URL_PATH.fullmatch(args[0])), "a path it does not accept")
    return args[0] if re.fullmatch(r"[A-Za-z0-9/_.*:~^$()|?+\[\]-]+", args[0]) else quote(args[0])
