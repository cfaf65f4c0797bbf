"""Volto benchmark (issue 26): a Volto site's two tiers through HostPanel's config, on the real parts.

    .venv/bin/python bench/volto.py [--parts a,b,c] [--sites 1000 10000] [--repeat 5]
                                    [--duration 5] [--runs 3] [--connections 16] [--interval 1] [--fails 2]

(a) +1 Volto site through the billing API (POST /api/v1/sites/ with kind=volto and a frontend balancer) ->
    both tiers answer on 3 front-ends (each a real sshd + Apache, deployed to over SSH by deploy_worker):
    a page from a Node.js stand-in (devrig.node) and /++api++/ from a Zope stand-in (devrig.backends), at
    each --sites count (seed_demo's Classic UI sites, plus the Node.js pool); the graceful reloads meanwhile
    (must be 0: a map-only change). The harness is bench/deploy.py's (gunicorn, deploy_worker, the fleet).
(b) Data plane through one front-end (event MPM, 2 x 16 workers, as bench/dataplane.py): a Volto page (the
    frontend balancer) and an API call (the Zope balancer) through HostPanel's rendered config with 1,001
    Volto sites, against a hand-written two-balancer config (Volto's documented Apache example in the
    seamless form) for the same sites, alternating runs in the same process; members are a static Apache on
    four loopback ports (what the config costs, not the stand-ins). wrk -t2 -cC -dDs on one site.
(c) A dead Node.js member: wrk on Volto pages, volto2 killed after 2 s, mod_proxy_hcheck on /ok every
    --interval s (--fails to leave): seconds until the balancer-manager shows it out and until its `elected`
    counter stopped growing (the last visitor request sent to it), and wrk's failed requests.

Bounded: every wait has a deadline, every process it starts is stopped, loopback only.

Seen on a shared 2-core host under other sessions' load (load average 16 to 31; 2026-12-07): (a) 0.521 s at
1,000 sites and 0.514 s at 10,000 (n=9), 0 gracefuls, map-only (a Classic UI site through bench/deploy.py at
the same load: 0.522 s); (b) pages 7,419 vs 7,056 req/s, API 7,647 vs 7,504 req/s, 0 failed on HostPanel's
side, front-end CPU 84 vs 80 and 92 vs 87 us/request; (c) under load the dead member is out in 0.1-0.3 s (a
visitor's request meets it first: Err), 1-3 failed requests (those in flight on the killed process).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.deploy as harness  # noqa: E402, I001 - first: it sets the environment and django up
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from balancers.models import Balancer, BalancerMember, Deployment, ZopeServer  # noqa: E402
from balancers.services import deployment_start  # noqa: E402
from bench import dataplane  # noqa: E402
from deploy.runner import deployment_execute  # noqa: E402
from deploy.transport.pool import POOL  # noqa: E402
from devrig.apache import StandaloneApache, write_tree  # noqa: E402
from devrig.backends import Backend  # noqa: E402
from devrig.fleet import ACTOR, make_client_key, make_frontend_pool, make_host  # noqa: E402
from devrig.net import free_port, free_port_block, http_get  # noqa: E402
from devrig.node import NodeFrontend  # noqa: E402
from rendering.render import render_tree  # noqa: E402
from rendering.snapshot import FrontEndRecord, load_snapshot  # noqa: E402
from sites.models import Site  # noqa: E402
from status.parse import parse_manager_xml  # noqa: E402

TMP = harness.TMP
SITE = "volto0500.example"
PAGE, API = "/news/item", "/++api++/news/item"


# --- (a) +1 Volto site through the API ----------------------------------------------------------------------


def tiers_answer(host, domain: str) -> bool:
    try:
        page = http_get(host.http_port, "/", host=domain, timeout=5)
        api = http_get(host.http_port, "/++api++/", host=domain, timeout=5)
    except OSError:
        return False
    return page.status == 200 and "X-Frontend" in page.headers and api.status == 200 and "X-Backend" in api.headers


def part_a(sites: int, args) -> dict:
    if sites != args.sites[0]:
        call_command("flush", interactive=False, verbosity=0)
    call_command("seed_demo", sites=sites, no_user=True, verbosity=0)
    token = harness.call_command_output("create_api_token", f"bench-{secrets.token_hex(3)}", "--scope", "operator")
    backends = [Backend(name).start() for name in ("zope1", "zope2", "backup")]
    for backend in backends:
        ZopeServer.objects.filter(name=backend.name).update(port=backend.port)
    nodes = [NodeFrontend(name).start() for name in ("volto1", "volto2")]
    settings.HOSTPANEL_AUTO_DEPLOY = False
    make_frontend_pool(nodes)
    key = make_client_key(TMP / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    made: list[StandaloneApache] = []
    hosts, procs = [], []
    base_dir = TMP / f"volto{sites}"

    def apache_factory(config_dir, *, listen=(), manager=False):
        apache = StandaloneApache(base_dir / f"apache{len(made)}", config_dir, listen=listen, manager=manager)
        made.append(apache)
        return apache

    try:
        for name in ("fe1", "fe2", "fe3"):
            hosts.append(make_host(base_dir / name, name, apache_factory, client_key=key))
        Deployment.objects.filter(status="queued").delete()
        first = deployment_start(actor=ACTOR, enqueue=False)
        deployment_execute(first.pk)
        first.refresh_from_db()
        if first.status != "succeeded":
            raise SystemExit(f"first deploy {first.status}: {list(first.hosts.values_list('frontend_name', 'error'))}")
        settings.HOSTPANEL_AUTO_DEPLOY = True
        env = {**harness.os.environ, **harness.ENV, "HOSTPANEL_SSH_KEY": str(key)}
        port = free_port()
        for command in (
            [harness.GUNICORN, "hostpanel.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "error"],
            [harness.PYTHON, "manage.py", "deploy_worker", "--interval", "1", "-v0"],
        ):
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True))
        api = f"http://127.0.0.1:{port}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        harness.wait_for("gunicorn", lambda: harness._answers(f"{api}/sites/?page_size=1", lambda: session), 30, 0.1)
        generations = [h.apache.generations() for h in hosts]
        added = []
        for i in range(args.repeat):
            domain = f"volto-{sites}-{i}.example.net"
            t = time.perf_counter()
            r = session.post(
                f"{api}/sites/",
                json={
                    "domain": domain,
                    "balancer": "bronze",
                    "plone_path": f"/p/v{i}",
                    "kind": "volto",
                    "frontend_balancer": "front",
                },
            )
            assert r.status_code == 201, r.text
            harness.wait_for(f"{domain}'s two tiers on all 3", lambda d=domain: all(tiers_answer(h, d) for h in hosts))
            added.append(time.perf_counter() - t)
            time.sleep(0.3)  # the worker finishes the deployment (its probes) before the next change
        harness.wait_for("the worker to go idle", harness.idle)
        kinds = sorted(set(Deployment.objects.exclude(pk=first.pk).values_list("hosts__change_kind", flat=True)))
        gracefuls = sum(h.apache.generations() - g for h, g in zip(hosts, generations, strict=True))
        return {"sites": sites, "add": added, "gracefuls": gracefuls, "kinds": kinds}
    finally:
        POOL.close_all()
        for proc in procs:
            harness.os.killpg(proc.pid, harness.signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                harness.os.killpg(proc.pid, harness.signal.SIGKILL)
        for apache in made:
            apache.stop()
        for host in hosts:
            host.sshd.stop()
        for server in (*backends, *nodes):
            server.stop()


# --- (b) data plane: HostPanel's config against a hand-written two-balancer one ----------------------------


def volto_sites(count: int, zope_ports: list[int], node_ports: list[int]) -> None:
    """A Zope balancer and a Node.js balancer over the static backend's ports, and `count` Volto sites."""
    call_command("flush", interactive=False, verbosity=0)
    bronze = Balancer.objects.create(name="bronze")
    front = Balancer.objects.create(name="front", kind="node")
    for balancer, kind, ports in ((bronze, "zope", zope_ports), (front, "node", node_ports)):
        for i, port in enumerate(ports):
            server = ZopeServer.objects.create(name=f"{kind}{i + 1}", kind=kind, host="127.0.0.1", port=port)
            BalancerMember.objects.create(balancer=balancer, zope_server=server)
    Site.objects.bulk_create(
        Site(
            domain=f"volto{i:04d}.example",
            balancer=bronze,
            plone_path=f"/plone/v{i}",
            kind="volto",
            frontend_balancer=front,
        )
        for i in range(count)
    )


def handwritten_volto(zope_ports: list[int], node_ports: list[int], domains: list[str], listen: str) -> str:
    """Volto's documented Apache example, seamless form, one vhost per site: two balancers, ++api++ to Zope."""
    out = ["ProxyPreserveHost On"]
    for name, ports, sticky in (("zope", zope_ports, True), ("volto", node_ports, False)):
        out.append(f'<Proxy "balancer://{name}">')
        for i, port in enumerate(ports):
            route = f" route={name}{i + 1}" if sticky else ""
            out.append(f"    BalancerMember http://127.0.0.1:{port} loadfactor=1 timeout=10 retry=60{route}")
        out.append("    ProxySet lbmethod=byrequests" + (" stickysession=BALANCEID" if sticky else ""))
        out += ["    Require all granted", "</Proxy>"]
    out += [f"<VirtualHost {listen}>", "    ServerName default.invalid", "    Redirect 404 /", "</VirtualHost>"]
    for domain in domains:
        out += [
            f"<VirtualHost {listen}>",
            f"    ServerName {domain}",
            '    RequestHeader set X-Forwarded-Proto "http"',
            '    Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/"'
            " env=BALANCER_ROUTE_CHANGED",
            "    RewriteEngine On",
            f"    RewriteRule ^/\\+\\+api\\+\\+($|/.*) balancer://zope/VirtualHostBase/http/%{{SERVER_NAME}}:80"
            f"/plone/{domain.split('.')[0]}/++api++/VirtualHostRoot$1 [L,P]",
            "    RewriteRule ^/(.*) balancer://volto/$1 [L,P]",
            "</VirtualHost>",
        ]
    return "\n".join(out) + "\n"


def wrk(port: int, path: str, args) -> dict:
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "-H", f"Host: {SITE}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 30).stdout
    sockets = dataplane.WRK_RE["socket"].search(out)
    non2xx = dataplane.WRK_RE["non2xx"].search(out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sockets.groups()) if sockets else 0)
    return {
        "rps": float(dataplane.WRK_RE["rps"].search(out).group(1)),
        "requests": int(dataplane.WRK_RE["requests"].search(out).group(1)),
        "failed": failed,
        "cmd": " ".join(cmd),
    }


def part_b(args) -> dict:
    ports = [free_port() for _ in range(4)]
    dataplane.static_backend(ports)
    zope_ports, node_ports = ports[:2], ports[2:]
    volto_sites(1001, zope_ports, node_ports)
    ref_port, port = free_port(), free_port()
    domains = [s.domain for s in load_snapshot().sites]
    reference = dataplane.front_end(
        "volto-reference",
        None,
        handwritten_volto(zope_ports, node_ports, domains, f"127.0.0.1:{ref_port}"),
        [f"127.0.0.1:{ref_port}"],
    )
    frontend = FrontEndRecord(
        name="bench",
        config_dir=str(dataplane.TMP / "volto-hostpanel" / "hostpanel"),
        http_listen=f"127.0.0.1:{port}",
        https_listen=f"127.0.0.1:{free_port()}",
        node_port_base=free_port_block(4),
    )
    tree = render_tree(load_snapshot(), frontend)
    assert f"{SITE} live|bronze|/plone/v500|s|BALANCEID|1200|v=front" in tree["routes.map"]
    rendered = dataplane.front_end("volto-hostpanel", tree, None, [f"127.0.0.1:{port}"])
    sides = {"hand-written": ref_port, "HostPanel": port}
    apaches = {"hand-written": reference, "HostPanel": rendered}
    for p in sides.values():
        assert http_get(p, PAGE, host=SITE).status == 200 and http_get(p, API, host=SITE).status == 200
    figures: dict = {}
    for label, path in (("page (Node.js)", PAGE), ("API (Zope)", API)):
        rps: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        failed = dict.fromkeys(sides, 0)
        for round_ in range(args.runs):
            for name in list(sides) if round_ % 2 == 0 else list(reversed(sides)):
                time.sleep(1)
                before = dataplane.cpu_seconds(apaches[name])
                run = wrk(sides[name], path, args)
                # front-end CPU per request: steadier than req/s while other processes share the cores
                cpu[name].append(1e6 * (dataplane.cpu_seconds(apaches[name]) - before) / max(1, run["requests"]))
                rps[name].append(run["rps"])
                failed[name] += run["failed"]
                figures["cmd"] = run["cmd"]
        ratios = sorted(h / r for h, r in zip(rps["HostPanel"], rps["hand-written"], strict=True))
        figures[label] = {
            "rps": {n: statistics.median(v) for n, v in rps.items()},
            "cpu_us": {n: statistics.median(v) for n, v in cpu.items()},
            "failed": failed,
            "ratio": ratios[len(ratios) // 2],
        }
    for apache in (reference, rendered):
        apache.stop()
    return figures


# --- (c) a dead Node.js member -------------------------------------------------------------------------------


def victim(manager_url: str, route: str = "volto2"):
    request = urllib.request.Request(manager_url + "?xml=1", headers={"Referer": manager_url})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our own loopback Apache
        (front,) = [b for b in parse_manager_xml(answer.read()) if b.name == "front"]
    return next(m for m in front.members if m.route == route)


def part_c(args, health_checks: bool) -> dict:
    call_command("flush", interactive=False, verbosity=0)
    zope = Backend("zope1").start()
    nodes = [NodeFrontend(name).start() for name in ("volto1", "volto2")]
    bronze = Balancer.objects.create(name="bronze")
    server = ZopeServer.objects.create(name="zope1", host="127.0.0.1", port=zope.port)
    BalancerMember.objects.create(balancer=bronze, zope_server=server)
    front = make_frontend_pool(nodes, health_interval=args.interval, health_fails=args.fails, retry=60)
    Site.objects.create(domain=SITE, balancer=bronze, plone_path="/plone/v", kind="volto", frontend_balancer=front)
    port = free_port()
    config_dir = TMP / f"dead-{health_checks}" / "hostpanel"
    frontend = FrontEndRecord(
        name="bench",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{port}",
        node_port_base=free_port_block(3),
        health_checks=health_checks,
    )
    tree = render_tree(load_snapshot(), frontend)
    assert ("hcuri=/ok" in tree["balancers.conf"]) == health_checks
    write_tree(tree, config_dir)
    apache = StandaloneApache(
        TMP / f"dead-{health_checks}" / "apache",
        config_dir,
        listen=[f"127.0.0.1:{port}"],
        manager=True,
        workers=(2, 64),
    )
    try:
        apache.start()
        time.sleep(args.interval * 2)
        result: dict = {}

        def load() -> None:
            result.update(wrk(port, PAGE, argparse.Namespace(connections=args.connections, duration=args.duration)))

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(2)
        nodes[1].stop()
        killed = time.monotonic()
        out_at, last_elected, last_growth = None, None, killed
        while time.monotonic() < killed + args.duration - 2.5:
            worker = victim(apache.manager_url)
            now = time.monotonic()
            if out_at is None and (worker.flags.error or worker.flags.health_check_failed):
                out_at = now, "HcFl" if worker.flags.health_check_failed else "Err"
            if last_elected is not None and worker.elected > last_elected:
                last_growth = now
            last_elected = worker.elected
            time.sleep(0.1)
        thread.join()
        return {
            "health_checks": health_checks,
            "out_after": None if out_at is None else (out_at[0] - killed, out_at[1]),
            "last_sent_after": last_growth - killed,
            **result,
        }
    finally:
        apache.stop()
        for each in (zope, *nodes):
            each.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument("--sites", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--fails", type=int, default=2)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", verbosity=0)
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    try:
        if "a" in parts:
            results = []
            for sites in args.sites:
                f = part_a(sites, args)
                results.append(f)
                print(
                    f"(a) {sites:>6} sites: +1 Volto site via API -> page and API on all 3: median "
                    f"{statistics.median(f['add']):.3f} s (min {min(f['add']):.3f}, max {max(f['add']):.3f}, "
                    f"n={len(f['add'])}); gracefuls {f['gracefuls']}; change kinds {f['kinds']}",
                    flush=True,
                )
            if len(results) > 1:
                a, b = (statistics.median(r["add"]) for r in (results[0], results[-1]))
                print(f"(a) flat in N: {a:.3f} s -> {b:.3f} s ({(b / a - 1) * 100:+.0f} %)")
        if "b" in parts:
            f = part_b(args)
            for label in ("page (Node.js)", "API (Zope)"):
                row = f[label]
                print(
                    f"(b) {label:<15} HostPanel {row['rps']['HostPanel']:>8,.0f} req/s, hand-written "
                    f"{row['rps']['hand-written']:>8,.0f} req/s: {100 * row['ratio']:.1f} % (median of round "
                    f"ratios); front-end CPU {row['cpu_us']['HostPanel']:.0f} vs {row['cpu_us']['hand-written']:.0f}"
                    f" us/request; failed {row['failed']}",
                    flush=True,
                )
            print(f"    {f['cmd']}")
        if "c" in parts:
            for health_checks in (True, False):
                f = part_c(args, health_checks)
                out = "never" if f["out_after"] is None else f"{f['out_after'][0]:.2f} s ({f['out_after'][1]})"
                print(
                    f"(c) health checks {'on ' if health_checks else 'off'}: volto2 killed -> out of rotation "
                    f"{out}, last visitor request sent to it {f['last_sent_after']:.2f} s; wrk {f['rps']:,.0f} "
                    f"req/s, failed {f['failed']}",
                    flush=True,
                )
    finally:
        for apache in dataplane.STARTED:
            apache.stop()
        harness.shutil.rmtree(TMP, ignore_errors=True)
        harness.shutil.rmtree(dataplane.TMP, ignore_errors=True)
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
