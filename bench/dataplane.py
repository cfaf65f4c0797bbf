"""Data-plane benchmark: requests through HostPanel's rendered config under load, against a
hand-written 2.4 reference, the seed's three passes and direct to the backend.

    .venv/bin/python bench/dataplane.py [--sites 1001] [--runs 3] [--duration 5] [--connections 16,64]
                                         [--only direct,reference,...] [--no-https] [--workers 2x16]
                                         [--mpm event|worker] [--node-variants rendered,pooled,h2c,...]
                                         [--capacity [--saturation-seconds 3]]

--capacity (issue #24) measures instead the failed requests at each load (16 and 64 clients), single-pass
and node-vhosts, with and without the sticky cookie, on a front-end sized as balancers.capacity.sizing_advice
says for that load (its MaxRequestWorkers in processes of 16 threads), and on the small limits (2 x 16) —
with the real status poller (mod_status) and the saturation alert running during every run
(HOSTPANEL_SATURATION_MINUTES shortened to --saturation-seconds, HOSTPANEL_STATUS_POLL_SECONDS to 1 s).
                                         [--single-variants rendered,no-usage-mark,usage-log,...]

One front-end Apache (devrig/apache.py) with the small worker limits a busy front-end runs into
(event MPM, 2 processes x 16 threads = MaxRequestWorkers 32), 1,001 sites (seed_demo + generated),
members pointing at a fast static backend (a small Apache on three loopback ports, one per Zope server;
a Python server is measured once beside it). Load: `wrk -t2 -cC -dDs --latency` on one site (Host header),
median of the runs; failed = non-2xx responses + socket errors; front-end CPU/req = the front-end Apache's
user + system CPU time per request (median run): steadier than req/s when another process shares the cores.
HTTPS rows: `h2load` (HTTP/1.1 over TLS and h2) on the same site with SNI. Every Apache is stopped; loopback
only; bounded in time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-dataplane-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from alerts.choices import AlertEvent
from alerts.models import Alert
from balancers.capacity import DEFAULT_THREAD_LIMIT, ApacheFacts, sizing_advice
from balancers.models import Balancer, FrontEnd, WorkerSample, ZopeServer
from devrig import pki
from devrig.apache import StandaloneApache, write_tree
from devrig.backends import Backend
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.routes import ROUTES_MAP
from rendering.snapshot import CertificateRecord, FrontEndRecord, load_snapshot
from status.poller import poll_once

WORKERS = (2, 16)  # a busy front-end: ServerLimit 2, ThreadsPerChild 16, MaxRequestWorkers 32
workers_in_use = [WORKERS]  # --workers replaces it
MPM = ["event"]  # --mpm replaces it
SERVER_EXTRA: list[str] = []  # --server-extra: server-level lines before each front-end's hostpanel.conf
SITE = "client0500.example"
SERVERS = ("zope1", "zope2", "backup")
COOKIE = "BALANCEID=balancer.zope1"
STARTED: list = []


def static_backend(ports: list[int]) -> StandaloneApache:
    """A small Apache answering every path with the same small static page, on each of ports."""
    directory = TMP / "static"
    (directory / "conf").mkdir(parents=True)
    (directory / "index.html").write_text("<html><body>static backend</body></html>\n")
    (directory / "conf" / "hostpanel.conf").write_text(
        "KeepAliveTimeout 30\nMaxKeepAliveRequests 0\n"
        f'AliasMatch "^/" "{directory}/index.html"\n'
        f'<Directory "{directory}">\n    Require all granted\n</Directory>\n'
    )
    listen = [f"127.0.0.1:{p}" for p in ports]
    apache = StandaloneApache(directory / "apache", directory / "conf", listen=listen, workers=(4, 32))
    STARTED.append(apache)
    return apache.start()


def handwritten(
    kind: str, ports: dict[str, int], node_base: int, sites: list[tuple[str, str, str]], listen: str
) -> str:
    """docs/apache-facts.md §2 written by hand: 'reference' (single pass) or 'seed' (three passes, pooled)."""
    out = ["ProxyPreserveHost On"]
    members = {"bronze": ("zope1", "zope2"), "silver": ("zope2", "zope1")}
    for name, (a, b) in members.items():
        out.append(f'<Proxy "balancer://{name}">')
        for server in (a, b, "backup"):
            port = ports[server] if kind == "reference" else node_base + SERVERS.index(server)
            url = f"http://127.0.0.1:{port}"
            extra = "lbset=2 status=+H" if server == "backup" else f"lbset=1 route={server}"
            out.append(f"    BalancerMember {url} loadfactor=1 timeout=10 retry=60 {extra}")
        fail = " failonstatus=503 failontimeout=On" if kind == "seed" else ""
        out.append(
            f"    ProxySet lbmethod=byrequests stickysession=BALANCEID nofailover=Off maxattempts=2 timeout=20{fail}"
        )
        out += ["    Require all granted", "</Proxy>"]
    if kind == "seed":
        for i, server in enumerate(SERVERS):
            port = node_base + i
            out += [
                f"Listen 127.0.0.1:{port}",
                f"<VirtualHost 127.0.0.1:{port}>",
                f"    ServerName node-{server}",
                "    BalancerInherit Off",
                "    RewriteEngine On",
                f"    RewriteRule ^/(.*)$ - [CO=BALANCEID:balancer.{server}:%{{HTTP_HOST}}:20:/]",
                f"    RewriteRule ^/(.*)$ http://127.0.0.1:{ports[server]}/$1 [L,P]",
                "</VirtualHost>",
                f'<Proxy "http://127.0.0.1:{ports[server]}">',
                "    ProxySet keepalive=On",
                "</Proxy>",
            ]
    out += [
        f"<VirtualHost {listen}>",
        "    ServerName hostpanel-default.invalid",
        "    Redirect 404 /",
        "</VirtualHost>",
    ]
    for domain, balancer, path in sites:
        out += [f"<VirtualHost {listen}>", f"    ServerName {domain}"]
        if kind == "reference":
            out.append(
                "    Header add Set-Cookie"
                ' "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED'
            )
        out += [
            "    RewriteEngine On",
            "    RewriteCond %{REQUEST_URI} !=/ERROR_503.html",
            f"    RewriteRule ^/(.*) balancer://{balancer}/VirtualHostBase/http/%{{SERVER_NAME}}:80{path}"
            "/VirtualHostRoot/$1 [L,P]",
            "</VirtualHost>",
        ]
    return "\n".join(out) + "\n"


WRK_RE = {
    "rps": re.compile(r"Requests/sec:\s+([\d.]+)"),
    "non2xx": re.compile(r"Non-2xx or 3xx responses:\s+(\d+)"),
    "socket": re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
    "requests": re.compile(r"(\d+) requests in"),
}
PCT_RE = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port: int, connections: int, duration: int, cookie: bool) -> dict:
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Host: {SITE}"]
    if cookie:
        cmd += ["-H", f"Cookie: {COOKIE}"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}/front-page"], capture_output=True, text=True, timeout=duration + 30
    ).stdout
    found = WRK_RE["socket"].search(out)
    socket_errors = sum(int(x) for x in found.groups()) if found else 0
    non2xx = int(WRK_RE["non2xx"].search(out).group(1)) if WRK_RE["non2xx"].search(out) else 0
    return {
        "rps": float(WRK_RE["rps"].search(out).group(1)),
        "pct": {p: _ms(v, u) for p, v, u in PCT_RE.findall(out)},
        "failed": non2xx + socket_errors,
        "detail": f"non-2xx {non2xx}, socket (connect/read/write/timeout) {'/'.join(found.groups()) if found else 0}",
        "requests": int(WRK_RE["requests"].search(out).group(1)),
        "cmd": " ".join(cmd) + f" http://127.0.0.1:{port}/front-page",
    }


H2_RE = {
    "rps": re.compile(r"finished in [\d.]+\w+, ([\d.]+) req/s"),
    "reqs": re.compile(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored"),
    "codes": re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx"),
    "proto": re.compile(r"Application protocol: (\S+)"),
}


def h2load(port: int, connections: int, duration: int, h1: bool, cookie: bool) -> dict:
    cmd = [
        "h2load",
        f"-c{connections}",
        "-m1" if h1 else "-m10",
        f"-D{duration}",
        "-t2",
        f"--connect-to=127.0.0.1:{port}",
    ]
    if h1:
        cmd.append("--h1")
    if cookie:
        cmd += ["-H", f"cookie: {COOKIE}"]
    cmd.append(f"https://{SITE}/front-page")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 20).stdout
    except subprocess.TimeoutExpired:  # requests stuck past the end: a stalled front-end
        return {
            "rps": 0.0,
            "pct": {},
            "failed": 1,
            "requests": 0,
            "proto": "?",
            "cmd": " ".join(cmd),
            "detail": "stalled",
        }
    _, ok, failed, errored = (int(x) for x in H2_RE["reqs"].search(out).groups())
    codes = [int(x) for x in H2_RE["codes"].search(out).groups()]
    proto = H2_RE["proto"].search(out)
    return {
        "rps": float(H2_RE["rps"].search(out).group(1)),
        "pct": {},
        "failed": failed + errored + codes[2] + codes[3],
        "detail": f"failed {failed}, errored {errored}, 4xx {codes[2]}, 5xx {codes[3]}",
        "requests": ok,
        "proto": proto.group(1) if proto else "?",
        "cmd": " ".join(cmd),
    }


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(apache: StandaloneApache | None) -> float:
    """CPU time (user + system) of an Apache: its parent and every child. Per request, it measures what the
    config costs even while another process shares the cores (req/s then swings with that load)."""
    parent = apache.pid() if apache else None
    if parent is None:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == parent or int(fields[1]) == parent:  # fields[1]: ppid; [11], [12]: utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def measure(label: str, port: int, args, *, cookie: bool, apache: StandaloneApache | None, https: str = "") -> None:
    for connections in args.connections:
        before = apache.error_log().count("AH01102") if apache else 0
        runs = []
        for _ in range(args.runs):
            time.sleep(1)  # let the previous run's connections close
            cpu = cpu_seconds(apache)
            if https:
                runs.append(h2load(port, connections, args.duration, https == "h1", cookie))
            else:
                runs.append(wrk(port, connections, args.duration, cookie))
            runs[-1]["cpu_us"] = 1e6 * (cpu_seconds(apache) - cpu) / max(1, runs[-1]["requests"])
        median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        cpu_us = sorted(r["cpu_us"] for r in runs)[len(runs) // 2]
        failed = sum(r["failed"] for r in runs)
        ah01102 = (apache.error_log().count("AH01102") - before) if apache else 0
        pct = " ".join(f"p{p} {median['pct'][p]:.2f}ms" for p in ("50", "90", "99") if p in median["pct"])
        row = {
            "label": label,
            "c": connections,
            "rps": median["rps"],
            "pct": pct,
            "failed": failed,
            "ah01102": ah01102,
            "cpu_us": cpu_us,
            "cmd": median["cmd"],
        }
        if https:
            row["pct"] = f"protocol {median['proto']}"
        RESULTS.append(row)
        print(
            f"{label:<46} c{connections:<3} {median['rps']:>9.0f} req/s  {row['pct']:<40} failed {failed:>5}"
            f"  AH01102 {ah01102}  CPU {cpu_us:.0f} us/req  [{'; '.join(r['detail'] for r in runs if r['failed'])}]",
            flush=True,
        )


RESULTS: list[dict] = []

_NODE_MEMBER = re.compile(
    r"^(    BalancerMember http://127\.0\.0\.1:\d+ [^\n]*?)( disablereuse=On| ttl=\d+)*$", re.MULTILINE
)


def _members(tree: dict[str, str], extra: str) -> dict[str, str]:
    """node-vhosts members rewritten: the rendered reuse parameters replaced by extra."""
    return {**tree, "balancers.conf": _NODE_MEMBER.sub(lambda m: m.group(1) + extra, tree["balancers.conf"])}


def _in_routing(tree: dict[str, str], line: str) -> dict[str, str]:
    """line added to the routing of every site vhost (routing-http.conf, routing-https.conf)."""
    return {path: text + line + "\n" if path.startswith("routing-") else text for path, text in tree.items()}


def _in_nodes(tree: dict[str, str], line: str) -> dict[str, str]:
    """Every node vhost gets line (after its ServerName)."""
    nodes = re.sub(
        r"^(    ServerName node-\S+\n)", lambda m: m.group(1) + f"    {line}\n", tree["nodes.conf"], flags=re.M
    )
    return {**tree, "nodes.conf": nodes}


def _h2c(tree: dict[str, str], extra: str = "") -> dict[str, str]:
    """The node hop over h2c (mod_proxy_http2), pooled; the node vhosts speak h2c too."""
    tree = _members(tree, extra)
    members = re.sub(r"^(    BalancerMember )http://", r"\1h2c://", tree["balancers.conf"], flags=re.M)
    return _in_nodes({**tree, "balancers.conf": members}, "Protocols h2c http/1.1")


# The node-vhosts fixes measured side by side: the rendered tree, edited.
NODE_VARIANTS = {
    "rendered": lambda tree: tree,
    "pooled": lambda tree: _members(tree, ""),
    "disablereuse": lambda tree: _members(tree, " disablereuse=On"),
    "ttl": lambda tree: _members(tree, " ttl=2"),
    "not-pooled": lambda tree: _in_routing(_members(tree, ""), "SetEnv proxy-initial-not-pooled 1"),
    "h2c": _h2c,
    "h2c-ttl": lambda tree: _h2c(tree, " ttl=2"),
    "keepalive-off": lambda tree: _in_nodes(_members(tree, ""), "KeepAlive Off"),
    "proxy-1.0": lambda tree: _in_routing(_members(tree, ""), "SetEnv force-proxy-request-1.0 1"),
}


def _routing_without(tree: dict[str, str], *patterns: str) -> dict[str, str]:
    """routing-http.conf without the lines (and the RewriteCond just above a removed RewriteRule) matching."""
    out: list[str] = []
    for line in tree["routing-http.conf"].splitlines():
        if any(re.search(p, line) for p in patterns):
            if line.startswith("RewriteRule") and out and out[-1].startswith("RewriteCond"):
                out.pop()
            continue
        out.append(line)
    return {**tree, "routing-http.conf": "\n".join(out) + "\n"}


def _without_site_options(tree: dict[str, str]) -> dict[str, str]:
    """The routing as it was before site options (main before #25): the options block cut out of both
    routing files. The measured site has no options, so both trees route it alike: what the block costs it."""
    out = dict(tree)
    for path in ("routing-http.conf", "routing-https.conf"):
        text = tree[path]
        start, end = text.index("# --- site options"), text.index("# --- end of site options")
        out[path] = text[:start] + text[text.index("\n", end) + 1 :]
    return out


# What each line of the single-pass routing costs: the rendered tree with lines taken out.
SINGLE_VARIANTS = {
    "rendered": lambda tree: tree,
    "no-forwarded-proto": lambda tree: _routing_without(tree, r"^RequestHeader set X-Forwarded-Proto"),
    "no-error-rules": lambda tree: _routing_without(tree, r"^RewriteRule \^/(hostpanel-503|ERROR_503|\\\.well)"),
    "no-node-rule": lambda tree: _routing_without(tree, r"E=HP_NODE:1\]$"),
    "no-headers": lambda tree: _routing_without(tree, r"^Header "),
    "no-site-options": _without_site_options,
    # traffic metering: without the usage mark (the rule that sets HP_USAGE) and no log, against the rendered
    # tree of a front-end with a usage_log_dir (the mark, and the log written through rotatelogs)
    "no-usage-mark": lambda tree: _routing_without(tree, r"E=HP_USAGE:1\]$"),
    "usage-log": lambda tree: tree,  # rendered with FrontEndRecord.usage_log_dir set (main)
}


def front_end(
    name: str,
    tree: dict[str, str] | None,
    text: str | None,
    listen: list[str],
    *,
    workers: tuple[int, int] | None = None,
    manager: bool = False,
) -> StandaloneApache:
    directory = TMP / name
    config_dir = directory / "hostpanel"
    if tree is not None:
        write_tree(tree, config_dir)
    else:
        config_dir.mkdir(parents=True)
        (config_dir / "hostpanel.conf").write_text(text)
    if SERVER_EXTRA:
        main = config_dir / "hostpanel.conf"
        main.write_text("".join(line + "\n" for line in SERVER_EXTRA) + main.read_text())
    apache = StandaloneApache(
        directory / "apache",
        config_dir,
        listen=listen,
        workers=workers or workers_in_use[0],
        mpm=MPM[0],
        manager=manager,
        extended_status=manager,  # --capacity: requests/s in the samples
    )
    STARTED.append(apache)
    check = apache.configtest()
    if not check.ok:
        raise SystemExit(f"{name}: apache2 -t failed:\n{check.output[-2000:]}")
    return apache.start()


def with_overlay(snapshot, frontend, lines: int):
    """The snapshot with a routing base in which `lines` sites' lines differ (not SITE's): the rendered
    routes-recent.map then holds them, and SITE is looked up in the overlay (a miss) and then the base."""
    others = [s for s in snapshot.sites if s.domain != SITE]
    moved, count = set(), 0
    for site in others:
        if count >= lines:
            break
        moved.add(site.domain)
        count += 1 + len(site.aliases)
    older = tuple(
        dataclasses.replace(s, plone_path=s.plone_path + "-old") if s.domain in moved else s for s in snapshot.sites
    )
    base = render_tree(dataclasses.replace(snapshot, sites=older), frontend)[ROUTES_MAP]
    return dataclasses.replace(snapshot, routes_base=base, overlay_max_lines=10**6)


def with_certificate(snapshot, domain: str):
    root = pki.root("Bench Root")
    intermediate = pki.intermediate(root)
    cert, key = pki.leaf(intermediate, [domain])
    record = CertificateRecord(
        serial=f"{cert.serial_number:x}",
        fullchain_pem=pki.pem(cert) + pki.pem(intermediate.cert),
        key_pem=pki.key_pem(key),
        names=(domain,),
    )
    sites = tuple(
        dataclasses.replace(s, tls="acme", certificate=record, https_redirect=False) if s.domain == domain else s
        for s in snapshot.sites
    )
    return dataclasses.replace(snapshot, sites=sites)


# --- --capacity: failed requests on front-ends sized as HostPanel advises, and the saturation alert (#24) ---


class Poller:
    """The real status poller (balancer-manager + mod_status, then the alerts evaluation) every `interval`
    seconds in a thread, for the length of a `with` block."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.rounds = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="bench-poller", daemon=True)

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                result = poll_once()
                self.rounds += 1
                self.errors += list(result.worker_failures)
                self.stop.wait(self.interval)
        finally:
            connection.close()

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def capacity_frontend(name: str, apache: StandaloneApache, workers: tuple[int, int]) -> FrontEnd:
    """The panel's record of this front-end, alone enabled, with the facts its connection test would read."""
    processes, threads = workers
    facts = ApacheFacts(
        checked_at=timezone.now().isoformat(),
        mpm=MPM[0],
        limits={"ServerLimit": processes, "ThreadsPerChild": threads, "MaxRequestWorkers": processes * threads},
        modules=("proxy", "proxy_http", "proxy_balancer", "status"),
    )
    FrontEnd.objects.update(enabled=False)
    return FrontEnd.objects.create(
        name=name,
        address="127.0.0.1",
        transport="local",
        balancer_manager_url=apache.manager_url,
        apache_facts=facts.as_json(),
        enabled=True,
    )


def alert_during(frontend: FrontEnd, started, ended) -> bool:
    """A saturation alert of this front-end was open at some time between started and ended."""
    alerts = Alert.objects.filter(event=AlertEvent.SATURATION, subject=frontend.name, fired_at__lte=ended)
    return any(a.resolved_at is None or a.resolved_at >= started for a in alerts)


def capacity_tree(name: str, mode: str, port: int) -> dict[str, str]:
    """HostPanel's tree with every balancer in `mode`, for front_end(name, ...) (which writes it there)."""
    Balancer.objects.update(render_mode=mode)
    frontend = FrontEndRecord(
        name="bench",
        config_dir=str(TMP / name / "hostpanel"),
        http_listen=f"127.0.0.1:{port}",
        https_listen=f"127.0.0.1:{free_port()}",
        node_address="127.0.0.1",
        node_port_base=free_port_block(len(SERVERS)),
    )
    return render_tree(load_snapshot(), frontend)


def capacity(args) -> None:
    """Per mode and load: the advised front-end, then the small limits; each with and without the cookie."""
    settings.HOSTPANEL_STATUS_POLL_SECONDS = 1
    settings.HOSTPANEL_SATURATION_MINUTES = args.saturation_seconds / 60
    small = workers_in_use[0]
    plans: list[tuple[str, int, str, tuple[int, int]]] = []
    sizings = args.sizings.split(",")
    for mode in args.modes.split(","):
        for clients in args.connections if "advised" in sizings else ():
            facts = ApacheFacts(checked_at="bench", mpm=MPM[0], limits={"ThreadsPerChild": small[1]})
            advice = sizing_advice(facts, clients, node_vhosts=mode == "node-vhosts")
            plans.append((mode, clients, "advised", (advice.processes, advice.threads_per_child)))
        for clients in args.connections if "small" in sizings else ():
            plans.append((mode, clients, "small", small))
    for mode, clients, sizing, workers in plans:
        port = free_port()
        name = f"cap-{mode}-c{clients}-{sizing}"
        # ThreadsPerChild above Apache's default ThreadLimit (64) needs ThreadLimit with it, as the advice says
        SERVER_EXTRA[:] = [f"ThreadLimit {workers[1]}"] if workers[1] > DEFAULT_THREAD_LIMIT else []
        apache = front_end(
            name, capacity_tree(name, mode, port), None, [f"127.0.0.1:{port}"], workers=workers, manager=True
        )
        assert http_get(port, "/", host=SITE).status == 200, apache.error_log()[-2000:]
        frontend = capacity_frontend(name, apache, workers)
        for cookie in (False, True):
            runs = []
            ah01102 = apache.error_log().count("AH01102")
            for _ in range(args.runs):
                time.sleep(1)  # the previous run's connections close; the alert resolves
                started = timezone.now()
                with Poller() as poller:
                    time.sleep(1.5)  # a sample before the load
                    runs.append(wrk(port, clients, args.duration, cookie))
                ended = timezone.now()
                samples = WorkerSample.objects.filter(frontend=frontend, taken_at__range=(started, ended))
                runs[-1]["samples"] = list(samples.order_by("taken_at").values_list("busy", "keepalive", "closing"))
                runs[-1]["busy"] = max((b for b, _k, _c in runs[-1]["samples"]), default=None)
                runs[-1]["alert"] = alert_during(frontend, started, ended)
                runs[-1]["polls"] = poller.rounds
                runs[-1]["poll_errors"] = poller.errors[:3]
            median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            row = {
                "mode": mode,
                "c": clients,
                "sizing": sizing,
                "workers": f"{workers[0]} x {workers[1]} = {workers[0] * workers[1]}",
                "cookie": cookie,
                "rps": median["rps"],
                "failed": sum(r["failed"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                "busy": max((r["busy"] or 0) for r in runs),
                "alert": sum(r["alert"] for r in runs),
                "runs": len(runs),
                "ah01102": apache.error_log().count("AH01102") - ah01102,
                "cmd": median["cmd"],
            }
            CAPACITY.append(row)
            print(
                f"{mode:<12} c{clients:<3} {sizing:<8} {row['workers']:<14} cookie {'yes' if cookie else 'no ':<3} "
                f"{row['rps']:>8.0f} req/s  failed {row['failed']:>6} of {row['requests']:>7}  "
                f"max busy {row['busy']:>3}  saturation alert {row['alert']}/{row['runs']}  AH01102 {row['ah01102']}  "
                f"[{'; '.join(r['detail'] for r in runs if r['failed'])}] {runs[-1]['poll_errors'] or ''}"
                + (
                    f"\n    (busy, keep-alive, closing) per sample: {runs[-1]['samples']}"
                    if args.verbose_samples
                    else ""
                ),
                flush=True,
            )
        apache.stop()
    print(
        f"\nsaturation alert: >= {settings.HOSTPANEL_SATURATION_PERCENT} % busy for {args.saturation_seconds:g} s, "
        "polled every 1 s (the real poller and alerts evaluation, during each wrk run)\n"
        "\n| balancers | clients | front-end | workers | sticky cookie | req/s | failed | AH01102 | max busy seen | "
        "saturation alert fired |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for r in CAPACITY:
        print(
            f"| {r['mode']} | {r['c']} | {r['sizing']} | {r['workers']} | {'yes' if r['cookie'] else 'no'} | "
            f"{r['rps']:,.0f} | {r['failed']:,} of {r['requests']:,} | {r['ah01102']} | {r['busy']} | "
            f"{r['alert']}/{r['runs']} runs |"
        )
    print("\ncommands (one run each):")
    for cmd in dict.fromkeys(r["cmd"] for r in CAPACITY):
        print("  " + cmd)


CAPACITY: list[dict] = []


def alternate(args, ports: dict[str, int]) -> None:
    """--alternate N: both front-ends up at once, one wrk run each per round, the order swapped every round
    (so a slower or faster period of the shared machine falls on both alike)."""
    sites = [(s.domain, s.balancer, s.plone_path) for s in load_snapshot().sites]
    ref_port = free_port()
    text = handwritten("reference", ports, free_port_block(3), sites, f"127.0.0.1:{ref_port}")
    reference = front_end("reference", None, text, [f"127.0.0.1:{ref_port}"])
    Balancer.objects.update(render_mode="single-pass")
    port = free_port()
    frontend = FrontEndRecord(
        name="bench",
        config_dir=str(TMP / "single-pass" / "hostpanel"),
        http_listen=f"127.0.0.1:{port}",
        https_listen=f"127.0.0.1:{free_port()}",
        node_address="127.0.0.1",
        node_port_base=free_port_block(len(SERVERS)),
    )
    rendered = front_end("single-pass", render_tree(load_snapshot(), frontend), None, [f"127.0.0.1:{port}"])
    for p in (ref_port, port):
        assert http_get(p, "/", host=SITE).status == 200
    sides = {"reference": (ref_port, reference), "HostPanel single-pass": (port, rendered)}
    rps: dict[str, list[float]] = {name: [] for name in sides}
    failed = dict.fromkeys(sides, 0)
    c = args.connections[0]
    for round_ in range(args.alternate):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            time.sleep(1)
            run = wrk(sides[name][0], c, args.duration, cookie=False)
            rps[name].append(run["rps"])
            failed[name] += run["failed"]
            print(f"round {round_ + 1} {name:<24} {run['rps']:>9.0f} req/s failed {run['failed']}", flush=True)
    ratios = sorted(h / r for h, r in zip(rps["HostPanel single-pass"], rps["reference"], strict=True))
    head = f"config (c{c}, {args.alternate} alternating runs of {args.duration} s)"
    print(f"\n| {head} | median req/s | min-max | failed |")
    print("|---|---|---|---|")
    for name, values in rps.items():
        ordered = sorted(values)
        print(f"| {name} | {ordered[len(ordered) // 2]:,.0f} | {ordered[0]:,.0f}-{ordered[-1]:,.0f} | {failed[name]} |")
    print(
        f"HostPanel / reference, round by round: median {100 * ratios[len(ratios) // 2]:.1f} %, "
        f"min {100 * ratios[0]:.1f} %, max {100 * ratios[-1]:.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1001)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument(
        "--only", default="", help="comma-separated: direct,python,reference,seed,single-pass,node-vhosts"
    )
    parser.add_argument("--no-https", action="store_true")
    parser.add_argument(
        "--workers",
        default="2x16",
        help="front-end processes x threads (default 2x16; e.g. 2x48 to see what more workers than clients do)",
    )
    parser.add_argument(
        "--server-extra",
        action="append",
        default=[],
        help="a server-level line for every front-end, e.g. 'ListenCoresBucketsRatio 1' (repeatable)",
    )
    parser.add_argument("--mpm", default="event", choices=("event", "worker"), help="the front-end's MPM")
    parser.add_argument(
        "--node-variants", default="rendered", help="node-vhosts trees to measure: " + ",".join(NODE_VARIANTS)
    )
    parser.add_argument(
        "--single-variants", default="rendered", help="single-pass trees to measure: " + ",".join(SINGLE_VARIANTS)
    )
    parser.add_argument(
        "--overlay-lines",
        type=int,
        default=0,
        help="render HostPanel's trees with a routing overlay of about this many lines (the measured site "
        "in the base): what a lookup costs when routes-recent.map is near HOSTPANEL_ROUTES_OVERLAY_MAX_LINES",
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="failed requests on front-ends sized by sizing_advice and on the small limits (--workers), with the "
        "status poller and the saturation alert running (issue #24); replaces the other measurements",
    )
    parser.add_argument(
        "--saturation-seconds",
        type=float,
        default=3.0,
        help="with --capacity: HOSTPANEL_SATURATION_MINUTES for the run, in seconds (default 3)",
    )
    parser.add_argument(
        "--backend-delay-ms",
        type=float,
        default=0,
        help="members are Python fake Zopes answering after this many ms instead of the static Apache backend",
    )
    parser.add_argument(
        "--alternate",
        type=int,
        default=0,
        help="N: the hand-written reference and HostPanel's single-pass config both running, measured in "
        "alternating order N times each at the first --connections (median and spread of each, and their ratio)",
    )
    parser.add_argument("--sizings", default="advised,small", help="with --capacity: advised, small or both")
    parser.add_argument("--modes", default="single-pass,node-vhosts", help="with --capacity: the render modes")
    parser.add_argument("--verbose-samples", action="store_true", help="with --capacity: print each mod_status sample")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    only = set(filter(None, args.only.split(",")))

    def wanted(name: str) -> bool:
        return name in only if (only or name == "python") else True

    call_command("migrate", verbosity=0)
    call_command("seed_demo", sites=args.sites - 1, no_user=True, verbosity=0)
    ports = {name: free_port() for name in SERVERS}
    if args.backend_delay_ms:  # slow members, like a Zope rendering a page: a request holds its worker that long
        for name, port in ports.items():
            STARTED.append(Backend(name, port, delay=args.backend_delay_ms / 1000).start())
    else:
        static_backend(list(ports.values()))  # stopped with the rest (STARTED)
    for name, port in ports.items():
        ZopeServer.objects.filter(name=name).update(port=port)
    processes, threads = (int(x) for x in args.workers.lower().split("x"))
    workers_in_use[0] = (processes, threads)
    MPM[0] = args.mpm
    SERVER_EXTRA[:] = args.server_extra
    print(
        f"{args.sites} sites; front-end mpm_{args.mpm} {processes} x {threads} {args.server_extra}; site {SITE}; {TMP}"
    )
    if args.alternate:
        try:
            alternate(args, ports)
        finally:
            for part in reversed(STARTED):
                part.stop()
            shutil.rmtree(TMP, ignore_errors=True)
        return
    if args.capacity:
        try:
            capacity(args)
        finally:
            for part in reversed(STARTED):
                part.stop()
            shutil.rmtree(TMP, ignore_errors=True)
        return
    try:
        if wanted("direct"):
            measure("direct to the static backend (Apache)", ports["zope1"], args, cookie=False, apache=None)
        if wanted("python"):
            backend = Backend("py").start()
            STARTED.append(backend)
            measure("direct to the Python fake Zope (balancers/dev)", backend.port, args, cookie=False, apache=None)
            backend.stop()
        sites = [(s.domain, s.balancer, s.plone_path) for s in load_snapshot().sites]
        for kind, label in (("reference", "hand-written 2.4 single-pass reference"), ("seed", "seed's three passes")):
            if not wanted(kind):
                continue
            port = free_port()
            text = handwritten(kind, ports, free_port_block(3), sites, f"127.0.0.1:{port}")
            apache = front_end(kind, None, text, [f"127.0.0.1:{port}"])
            assert http_get(port, "/", host=SITE).status == 200, apache.error_log()[-2000:]
            measure(label, port, args, cookie=False, apache=apache)
            measure(label + " (sticky cookie)", port, args, cookie=True, apache=apache)
            apache.stop()
        runs = [("single-pass", v) for v in args.single_variants.split(",")]
        runs += [("node-vhosts", v) for v in args.node_variants.split(",")]
        for index, (mode, variant) in enumerate(runs):
            if not wanted(mode):
                continue
            Balancer.objects.update(render_mode=mode)
            port, https_port = free_port(), free_port()
            name = f"{mode}-{variant}-{index}"  # a variant may be measured twice (interleaved)
            config_dir = TMP / name / "hostpanel"
            frontend = FrontEndRecord(
                name="bench",
                config_dir=str(config_dir),
                http_listen=f"127.0.0.1:{port}",
                https_listen=f"127.0.0.1:{https_port}",
                node_address="127.0.0.1",
                node_port_base=free_port_block(len(SERVERS)),
            )
            if variant == "usage-log":
                frontend = dataclasses.replace(frontend, usage_log_dir=str(TMP / name / "usage"))
            snapshot = load_snapshot() if args.no_https else with_certificate(load_snapshot(), SITE)
            listen = [f"127.0.0.1:{port}"] + ([] if args.no_https else [f"127.0.0.1:{https_port} https"])
            variants = SINGLE_VARIANTS if mode == "single-pass" else NODE_VARIANTS
            if args.overlay_lines:
                snapshot = with_overlay(snapshot, frontend, args.overlay_lines)
            tree = variants[variant](render_tree(snapshot, frontend))
            if args.overlay_lines:
                overlay = [line for line in tree["routes-recent.map"].splitlines() if not line.startswith("#")]
                among = any(line.startswith(SITE + " ") for line in overlay)
                print(f"routes-recent.map: {len(overlay)} route lines; {SITE} among them: {among}")
            apache = front_end(name, tree, None, listen)
            assert http_get(port, "/", host=SITE).status == 200, apache.error_log()[-2000:]
            label = f"HostPanel {mode}" + ("" if variant == "rendered" else f" [{variant}]")
            label += f" [overlay {args.overlay_lines} lines]" if args.overlay_lines else ""
            measure(label, port, args, cookie=False, apache=apache)
            measure(f"{label} (sticky cookie)", port, args, cookie=True, apache=apache)
            if variant == "usage-log":
                logged = sum(len(p.read_bytes().splitlines()) for p in (TMP / name / "usage").glob("usage.*.log"))
                print(f"{label}: {logged:,} lines in the usage log")
            if not args.no_https and variant == "rendered":
                measure(f"{label} HTTPS http/1.1", https_port, args, cookie=True, apache=apache, https="h1")
                measure(f"{label} HTTPS h2", https_port, args, cookie=True, apache=apache, https="h2")
            apache.stop()
    finally:
        for part in reversed(STARTED):
            part.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    direct = next((r["rps"] for r in RESULTS if r["label"].startswith("direct to the static")), None)
    print(
        "\n| config | c | req/s | of direct | latency | failed | AH01102 | front-end CPU/req |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    for r in RESULTS:
        share = f"{100 * r['rps'] / direct:.0f} %" if direct else "-"
        cpu = f"{r['cpu_us']:.0f} us" if r["cpu_us"] else "-"
        print(
            f"| {r['label']} | {r['c']} | {r['rps']:,.0f} | {share} | {r['pct']} | {r['failed']} | {r['ah01102']}"
            f" | {cpu} |"
        )
    print("\ncommands (one run each):")
    for cmd in dict.fromkeys(r["cmd"].replace(str(r["c"]), "C", 0) for r in RESULTS):
        print("  " + cmd)


if __name__ == "__main__":
    main()
