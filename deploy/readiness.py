"""Is a front-end's Apache ready for HostPanel? Read over the transport, one command, no change on the host.

    facts = read_apache_facts(transport, frontend)      # balancers.capacity.ApacheFacts
    balancer_services.frontend_facts_save(frontend, facts=facts)   # the one writer of FrontEnd.apache_facts

What is read, all from the front-end's own Apache binary (derived from its configtest_command: Debian's
`apache2ctl configtest` ignores any argument after `configtest`, so `configtest` and `-t` are taken out and
each question asked with its own flags):

* `-v`: the version;
* `-t -D DUMP_VHOSTS -D DUMP_MODULES` (what `-S` and `-M` print): the virtual host map and the loaded
  modules (the MPM is the loaded mpm_*_module);
* `-t -D DUMP_INCLUDES`, then a grep of those files for the MPM and keep-alive directives at server level
  (inside <IfModule> sections whose module is loaded, outside <VirtualHost>): ServerLimit, ThreadsPerChild,
  MaxRequestWorkers, ... A directive not set anywhere is Apache's compiled-in default for that MPM
  (`ApacheFacts.defaults` names them). The files are grepped in include order, so a directive set in two
  files counts the one read last (Apache's own rule), not an Include nested between two settings of one file.

The virtual host map (`parse_vhost_map`) is judged per address (`judge_vhosts`): Apache gives a request
for a name no vhost claims to the FIRST vhost of its address:port ("default server" in `-S`), and a vhost on
a specific IP takes the requests to that IP before any `*:port` vhost. HostPanel's catch-all
(ServerName hostpanel-default.invalid, rendering/templates/apache/http.conf.j2 and default.conf.j2) must be
that first vhost on http_listen (and https_listen when the front-end serves HTTPS sites).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from balancers.capacity import ApacheFacts, VhostFinding
from deploy.transport.protocol import Transport, TransportError

HOSTPANEL_VHOST_NAME = "hostpanel-default.invalid"  # the ServerName of HostPanel's catch-all vhosts
READ_TIMEOUT = 60.0
_SECTION = "@@hostpanel-readiness "

# Apache 2.4's compiled-in defaults (docs: mpm_common, event, worker, prefork, core).
_COMMON_DEFAULTS = {"KeepAlive": 1, "KeepAliveTimeout": 5, "MaxKeepAliveRequests": 100, "Timeout": 60}
MPM_DEFAULTS: dict[str, dict[str, int]] = {
    "event": {
        "ServerLimit": 16,
        "ThreadsPerChild": 25,
        "ThreadLimit": 64,
        "MaxRequestWorkers": 400,
        "StartServers": 3,
        "MinSpareThreads": 75,
        "MaxSpareThreads": 250,
        "MaxConnectionsPerChild": 0,
    },
    "worker": {
        "ServerLimit": 16,
        "ThreadsPerChild": 25,
        "ThreadLimit": 64,
        "MaxRequestWorkers": 400,
        "StartServers": 3,
        "MinSpareThreads": 75,
        "MaxSpareThreads": 250,
        "MaxConnectionsPerChild": 0,
    },
    "prefork": {
        "ServerLimit": 256,
        "ThreadsPerChild": 1,
        "MaxRequestWorkers": 256,
        "StartServers": 5,
        "MinSpareServers": 5,
        "MaxSpareServers": 10,
        "MaxConnectionsPerChild": 0,
    },
}
LIMIT_DIRECTIVES = (
    "ServerLimit",
    "ThreadsPerChild",
    "ThreadLimit",
    "MaxRequestWorkers",
    "MaxClients",  # the 2.2 name of MaxRequestWorkers, still read by 2.4
    "StartServers",
    "MinSpareThreads",
    "MaxSpareThreads",
    "MinSpareServers",
    "MaxSpareServers",
    "MaxConnectionsPerChild",
    "AsyncRequestWorkerFactor",
    "KeepAlive",
    "KeepAliveTimeout",
    "MaxKeepAliveRequests",
    "Timeout",
)
_LIMIT_NAMES = {name.lower(): name for name in LIMIT_DIRECTIVES}
_GREP_PATTERN = r"^[[:space:]]*(</?)?(IfModule|VirtualHost|" + "|".join(LIMIT_DIRECTIVES) + r")([[:space:]>]|$)"


# --- the command --------------------------------------------------------------------------------


def apache_command(configtest_command: str) -> str | None:
    """The front-end's Apache binary with its own arguments (-f, -d, sudo...) from its configtest command,
    without the configtest itself: `apache2ctl configtest` -> `apache2ctl`, `apache2 -t -f /x/httpd.conf`
    -> `apache2 -f /x/httpd.conf`. None when the command is neither form (a wrapper script)."""
    try:
        words = shlex.split(configtest_command)
    except ValueError:
        return None
    if not words or not ({"configtest", "-t"} & set(words)):
        return None
    return shlex.join([word for word in words if word not in ("configtest", "-t")])


def readiness_script(binary: str) -> str:
    """One shell command, three sections: version, vhost map + modules, the MPM directives of the includes."""
    return "; ".join(
        [
            f"echo '{_SECTION}version'",
            f"{binary} -v 2>&1",
            f"echo '{_SECTION}dump'",
            f"{binary} -t -D DUMP_VHOSTS -D DUMP_MODULES 2>&1",
            f"echo '{_SECTION}limits'",
            f"{binary} -t -D DUMP_INCLUDES 2>/dev/null | sed -n 's/^ *([*0-9]*) //p' | tr '\\n' '\\0' "
            f"| xargs -0 -r grep -H -n -i -E {shlex.quote(_GREP_PATTERN)} 2>/dev/null",
            "true",
        ]
    )


def split_sections(output: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(_SECTION):
            current = sections.setdefault(line[len(_SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


# --- parsers (pure) -----------------------------------------------------------------------------


_VERSION = re.compile(r"Server version:\s*Apache/(?P<version>[0-9][0-9.]*)")
_MODULE = re.compile(r"^\s*(?P<name>[A-Za-z0-9_]+)_module\s+\((?:static|shared)\)\s*$")


def parse_version(text: str) -> str:
    match = _VERSION.search(text)
    return match["version"] if match else ""


def parse_modules(text: str) -> tuple[str, ...]:
    """The loaded modules of `-D DUMP_MODULES` / `-M` ("  proxy_module (shared)"), without _module."""
    return tuple(m["name"] for line in text.splitlines() if (m := _MODULE.match(line)))


def mpm_of(modules: Iterable[str]) -> str:
    for module in modules:
        if module.startswith("mpm_"):
            return module[4:]
    return ""


@dataclass(frozen=True)
class Vhost:
    """One vhost of `-S` output on one address."""

    name: str
    source: str  # file:line
    default: bool = False  # the "default server" of its address (the first vhost there)


@dataclass
class VhostAddress:
    address: str  # as -S prints it: *:80, 127.0.0.1:8443, [::1]:80, _default_:443
    vhosts: list[Vhost] = field(default_factory=list)

    @property
    def default(self) -> Vhost | None:
        return next((v for v in self.vhosts if v.default), self.vhosts[0] if self.vhosts else None)

    @property
    def host(self) -> str:
        host = self.address.rpartition(":")[0].strip("[]")
        return "*" if host in ("*", "_default_") else host

    @property
    def port(self) -> str:
        return self.address.rpartition(":")[2]


_SINGLE = re.compile(r"^(?P<address>\S+:\d+|\S+:\*)\s+(?P<name>\S+)\s+\((?P<source>.+:\d+)\)\s*$")
_NAME_BASED = re.compile(r"^(?P<address>\S+:(?:\d+|\*))\s+is a NameVirtualHost\s*$")
_DEFAULT = re.compile(r"^\s+default server\s+(?P<name>\S+)\s+\((?P<source>.+:\d+)\)\s*$")
_NAMEVHOST = re.compile(r"^\s+port\s+\S+\s+namevhost\s+(?P<name>\S+)\s+\((?P<source>.+:\d+)\)\s*$")


def parse_vhost_map(text: str) -> list[VhostAddress]:
    """The addresses of `apache2ctl -S` (`-t -D DUMP_VHOSTS`) output, in order, each with its vhosts; the
    first listed (the "default server" of a name-based address) answers names no vhost there claims."""
    addresses: list[VhostAddress] = []
    current: VhostAddress | None = None
    for line in text.splitlines():
        if m := _NAME_BASED.match(line):
            current = VhostAddress(m["address"])
            addresses.append(current)
        elif m := _DEFAULT.match(line):
            if current is not None:
                current.vhosts.append(Vhost(m["name"], m["source"], default=True))
        elif m := _NAMEVHOST.match(line):
            if current is not None and not any(
                v.name == m["name"] and v.source == m["source"] and v.default for v in current.vhosts
            ):
                current.vhosts.append(Vhost(m["name"], m["source"]))
        elif m := _SINGLE.match(line):
            current = None
            addresses.append(VhostAddress(m["address"], [Vhost(m["name"], m["source"], default=True)]))
        elif line and not line[0].isspace():
            current = None  # ServerRoot:, Main DocumentRoot:... after the map
    return addresses


def _split_listen(listen: str) -> tuple[str, str]:
    host, _, port = listen.strip().split()[0].rpartition(":")
    host = host.strip("[]")
    return ("*" if host in ("", "*", "0.0.0.0", "::", "_default_") else host), port  # noqa: S104 - not a bind


def _layout_advice(source: str) -> str:
    """Where the include should go, from where the vhost that answers instead is defined."""
    path = source.rsplit(":", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if "/sites-enabled/" in path or path.startswith("/etc/apache2/"):
        site = name[:-5] if name.endswith(".conf") else name
        return (
            "On Debian, put the Include in conf-enabled/ (e.g. /etc/apache2/conf-enabled/000-hostpanel.conf: "
            "apache2.conf loads conf-enabled/ before sites-enabled/)"
            + (f", or disable that site (a2dissite {site})" if "/sites-enabled/" in path else "")
            + ", then reload Apache."
        )
    if path.startswith("/etc/httpd/"):
        return (
            "On RHEL-style layouts, httpd.conf's own <VirtualHost> blocks come before conf.d/*.conf, and conf.d "
            "files load in name order (mod_ssl's conf.d/ssl.conf has a _default_:443 vhost): put the Include in "
            "conf.d/00-hostpanel.conf and move or remove that vhost, then reload Apache."
        )
    return "Put the Include of hostpanel.conf before that vhost in the main config, then reload Apache."


def judge_vhosts(addresses: list[VhostAddress], listens: dict[str, bool]) -> tuple[VhostFinding, ...]:
    """One finding per address of the map that takes requests meant for HostPanel's listeners.
    `listens`: {listen address: HostPanel's catch-all is expected there} (https_listen only with HTTPS sites)."""
    findings: list[VhostFinding] = []
    for listen, expected in listens.items():
        if not expected:
            continue
        our_host, our_port = _split_listen(listen)
        relevant = [a for a in addresses if a.port == our_port and (our_host == "*" or a.host in (our_host, "*"))]
        if our_host != "*" and any(a.host == our_host for a in relevant):
            relevant = [a for a in relevant if a.host == our_host]  # the IP's own vhosts win over *:port
        ours = [a for a in relevant if any(v.name == HOSTPANEL_VHOST_NAME for v in a.vhosts)]
        if not relevant:
            findings.append(
                VhostFinding(
                    address=listen,
                    default_name="",
                    default_source="",
                    hostpanel_first=False,
                    advice=(
                        f"{listen}: no vhost on this address: the main config does not include hostpanel.conf "
                        "yet, or has no Listen for it; add both and deploy."
                    ),
                )
            )
        for address in relevant:
            default = address.default
            if default is None:
                continue
            first = default.name == HOSTPANEL_VHOST_NAME
            advice = ""
            if not first and address.host != "*" and our_host == "*" and address not in ours:
                advice = (
                    f"{address.address}: vhosts on this specific address take the requests to {address.host} "
                    f"before HostPanel's {listen} vhost (a vhost on an IP wins over *); its default is "
                    f"{default.source} (ServerName {default.name}). Remove that vhost or move it to another port."
                )
            elif not first:
                missing = "" if address in ours else " (HostPanel's catch-all is not on this address at all)"
                advice = (
                    f"{address.address}: the default vhost is {default.source} (ServerName {default.name}){missing}: "
                    "every site answers it instead of HostPanel's catch-all, which must come first. "
                    + _layout_advice(default.source)
                )
            findings.append(VhostFinding(address.address, default.name, default.source, first, advice))
    unique: dict[str, VhostFinding] = {}
    for finding in findings:
        unique.setdefault(f"{finding.address}|{finding.default_source}", finding)
    return tuple(unique.values())


_GREP_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<text>.*)$")


def _module_loaded(test: str, modules: set[str]) -> bool:
    """<IfModule X>: X is a module identifier (mpm_event_module) or a source file name (mod_rewrite.c,
    event.c); `!X` negates. An unknown form counts as loaded."""
    negate = test.startswith("!")
    name = test.lstrip("!").strip().strip("\"'")
    if name.endswith("_module"):
        loaded = name[: -len("_module")] in modules
    elif name.endswith(".c"):
        base = name[:-2]
        base = base[4:] if base.startswith("mod_") else base
        loaded = base in modules or f"mpm_{base}" in modules
    else:
        loaded = True
    return loaded != negate


def parse_limits(grep_output: str, modules: Iterable[str]) -> dict[str, int]:
    """The MPM and keep-alive directives set at server level (grep -H -n output of the included files, in
    include order), under <IfModule> sections whose module is loaded; the last setting wins."""
    loaded = set(modules)
    values: dict[str, int] = {}
    stack: list[bool] = []  # per open section: does it apply
    current_file = ""
    for line in grep_output.splitlines():
        match = _GREP_LINE.match(line)
        if not match:
            continue
        if match["file"] != current_file:
            current_file, stack = match["file"], []  # sections never span files
        text = match["text"].strip()
        lowered = text.lower()
        if lowered.startswith("</"):
            if stack:
                stack.pop()
            continue
        if lowered.startswith("<ifmodule"):
            stack.append(_module_loaded(text[len("<IfModule") :].rstrip(">").strip(), loaded))
            continue
        if lowered.startswith("<virtualhost"):
            stack.append(False)  # per-vhost settings are not the server's
            continue
        if not all(stack):
            continue
        words = text.split()
        name = _LIMIT_NAMES.get(words[0].lower()) if words else None
        if name is None or len(words) < 2:
            continue
        value = words[1].strip("\"'")
        if name == "KeepAlive":
            values[name] = 1 if value.lower() == "on" else 0
        elif value.isdigit():
            values["MaxRequestWorkers" if name == "MaxClients" else name] = int(value)
    return values


def effective_limits(mpm: str, set_values: dict[str, int]) -> tuple[dict[str, int], tuple[str, ...]]:
    """Every limit Apache runs with: what the config sets, else the MPM's compiled-in default (named in the
    second value). MaxRequestWorkers is capped at ServerLimit x ThreadsPerChild, as Apache does at start."""
    defaults = {**_COMMON_DEFAULTS, **MPM_DEFAULTS.get(mpm, {})}
    limits = dict(set_values)
    from_defaults = []
    for name, value in defaults.items():
        if name not in limits:
            limits[name] = value
            from_defaults.append(name)
    if mpm in ("event", "worker") and "MaxRequestWorkers" in limits:
        limits["MaxRequestWorkers"] = min(
            limits["MaxRequestWorkers"], limits["ServerLimit"] * limits["ThreadsPerChild"]
        )
    return limits, tuple(sorted(from_defaults))


# --- reading a front-end --------------------------------------------------------------------------


def listens_of(frontend, *, https: bool) -> dict[str, bool]:
    """{listen: HostPanel's catch-all is expected there}: http_listen always, https_listen with HTTPS sites."""
    return {frontend.http_listen: True, frontend.https_listen: https}


def facts_from_output(output: str, listens: dict[str, bool], *, command: str) -> ApacheFacts:
    """ApacheFacts from the readiness script's output (pure: tests feed captured output)."""
    sections = split_sections(output)
    errors: list[str] = []
    version = parse_version(sections.get("version", ""))
    dump = sections.get("dump", "")
    modules = parse_modules(dump)
    if not version:
        errors.append(f"no Apache version from `{command} -v`")
    if not modules:
        tail = "; ".join(line for line in dump.splitlines() if line.strip())[-300:]
        errors.append(f"no module list from `{command} -t -D DUMP_MODULES`" + (f": {tail}" if tail else ""))
    mpm = mpm_of(modules)
    addresses = parse_vhost_map(dump)
    if modules and not addresses:
        errors.append(f"no virtual host map from `{command} -t -D DUMP_VHOSTS`")
    limits, defaults = effective_limits(mpm, parse_limits(sections.get("limits", ""), modules)) if mpm else ({}, ())
    return ApacheFacts(
        checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=version,
        mpm=mpm,
        limits=limits,
        modules=modules,
        vhosts=judge_vhosts(addresses, listens) if addresses else (),
        errors=tuple(errors),
        defaults=defaults,
    )


def read_apache_facts(transport: Transport, frontend, *, https: bool) -> ApacheFacts:
    """What the front-end's Apache is (version, MPM and its limits, modules, vhost map), in one command.
    `https`: the front-end serves HTTPS sites (HostPanel's default HTTPS vhost must be first on https_listen).
    Never raises: what could not be read is in `errors`."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    binary = apache_command(frontend.configtest_command)
    if binary is None:
        return ApacheFacts(
            checked_at=now,
            errors=(
                f"cannot ask Apache from the configtest command `{frontend.configtest_command}` (neither "
                "`apache2ctl configtest` nor `apache2 -t ...`): check the vhost map by hand with `apache2ctl -S`",
            ),
        )
    try:
        result = transport.run(readiness_script(binary), timeout=READ_TIMEOUT)
    except TransportError as exc:
        return ApacheFacts(checked_at=now, errors=(f"{binary}: {exc.message}",))
    return facts_from_output(result.stdout + "\n" + result.stderr, listens_of(frontend, https=https), command=binary)
