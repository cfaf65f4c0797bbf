"""Health-check benchmark: a Zope member fails during a wrk run, with mod_proxy_hcheck's active checks
rendered (the front-end loads the module) and without them (the same tree as a front-end without it).

    .venv/bin/python bench/hcheck.py [--duration 10] [--connections 16] [--fail-at 2] [--runs 1]
                                     [--modes single-pass,node-vhosts] [--faults kill,error,hang]
                                     [--heal-at 6]
                                     [--interval 1] [--fails 2] [--passes 1] [--workers 2x64]

One front-end Apache (devrig/apache.py, event MPM, sized as HostPanel advises for the load: more workers
than twice the clients) renders the demo data (seed_demo: bronze over zope1 and zope2, the hot-standby
backup in lbset 2; linux.co.uk) in front of three fake Zope servers (devrig/backends.py). Load:
`wrk -t2 -cC -dDs` on linux.co.uk without cookie (each request balanced). At --fail-at seconds zope2 fails:
`kill` stops it (its port refuses connections and its open ones are cut, as when a Zope process dies),
`error` makes it answer 500 to everything (a broken site or database), `hang` makes it accept and never
answer in time (a hung Zope: each answer after 60 s). With --heal-at it is healthy again at that second.
The balancer-manager is read every 0.1 s from the failure on.

Per run: failed requests (wrk's non-2xx/3xx responses + socket errors: connect/read/write/timeout),
seconds from the failure until the balancer-manager shows zope2 out of rotation (flag HcFl with health
checks, Err without: the proxy's own error state after a request failed on it), and the seconds until its
`elected` counter stopped growing (the last request Apache sent it). Loopback only; every process stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="hostpanel-hcheck-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"

import django

django.setup()

from django.core.management import call_command

from balancers.models import Balancer, ZopeServer
from devrig.apache import StandaloneApache, write_tree
from devrig.backends import Backend
from devrig.net import free_port, free_port_block, http_get
from rendering.render import render_tree
from rendering.snapshot import FrontEndRecord, load_snapshot
from status.parse import parse_manager_xml

SITE = "linux.co.uk"
SERVERS = ("zope1", "zope2", "backup")
VICTIM = "zope2"
WRK_RE = {
    "non2xx": re.compile(r"Non-2xx or 3xx responses:\s+(\d+)"),
    "socket": re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
    "requests": re.compile(r"(\d+) requests in"),
    "rps": re.compile(r"Requests/sec:\s+([\d.]+)"),
}


def wrk(port: int, connections: int, duration: int) -> tuple[dict, str]:
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "-H", f"Host: {SITE}"]
    cmd.append(f"http://127.0.0.1:{port}/front-page")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    sockets = WRK_RE["socket"].search(out)
    non2xx = WRK_RE["non2xx"].search(out)
    socket_errors = [int(x) for x in sockets.groups()] if sockets else [0, 0, 0, 0]
    return {
        "requests": int(WRK_RE["requests"].search(out).group(1)),
        "rps": float(WRK_RE["rps"].search(out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket": socket_errors,
        "failed": (int(non2xx.group(1)) if non2xx else 0) + sum(socket_errors),
    }, " ".join(cmd)


def victim_worker(manager_url: str):
    """zope2's worker in balancer bronze, as the balancer-manager shows it now."""
    request = urllib.request.Request(manager_url + "?xml=1", headers={"Referer": manager_url})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our own loopback Apache
        (bronze,) = [b for b in parse_manager_xml(answer.read()) if b.name == "bronze"]
    return next(m for m in bronze.members if m.route == VICTIM)


def watch(manager_url: str, failed_at: float, until: float, heal: tuple[float, object] | None) -> dict:
    """Read the balancer-manager every 0.1 s from the failure on: when zope2 is first shown out of rotation
    (Err: the proxy's error state after a request failed on it; HcFl: its health checks failed), when its
    elected counter last grew while it was failing, and, once healed, when it is shown back in rotation."""
    out_at, out_flag, back_at = None, "", None
    last_elected, last_growth = None, failed_at
    healed_at = None
    while time.monotonic() < until:
        if heal is not None and healed_at is None and time.monotonic() >= heal[0]:
            heal[1]()  # type: ignore[operator]
            healed_at = time.monotonic()
        worker = victim_worker(manager_url)
        now = time.monotonic()
        if os.environ.get("HCHECK_TRACE"):
            print(f"{now - failed_at:5.2f} {worker.status!r} elected={worker.elected}", file=sys.stderr)
        out = worker.flags.error or worker.flags.health_check_failed
        if out and out_at is None:
            out_at, out_flag = now, "HcFl" if worker.flags.health_check_failed else "Err"
        if healed_at is None and last_elected is not None and worker.elected > last_elected:
            last_growth = now
        if healed_at is not None and back_at is None and not out:
            back_at = now
        last_elected = worker.elected
        time.sleep(0.1)
    return {
        "out_after": None if out_at is None else out_at - failed_at,
        "out_flag": out_flag,
        "last_sent_after": last_growth - failed_at,
        "back_after": None if back_at is None else back_at - healed_at if healed_at is not None else None,
        "healed": healed_at is not None,
    }


def run_once(args, mode: str, fault: str, health_checks: bool, backends: dict[str, Backend]) -> dict:
    Balancer.objects.update(render_mode=mode)
    port = free_port()
    name = f"{mode}-{fault}-{'hc' if health_checks else 'nohc'}-{time.monotonic_ns()}"
    config_dir = TMP / name / "hostpanel"
    frontend = FrontEndRecord(
        name="bench",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{port}",
        node_address="127.0.0.1",
        node_port_base=free_port_block(len(SERVERS)),
        health_checks=health_checks,
    )
    tree = render_tree(load_snapshot(), frontend)
    assert ("hcmethod=" in tree["balancers.conf"]) == health_checks
    write_tree(tree, config_dir)
    apache = StandaloneApache(
        TMP / name / "apache",
        config_dir,
        listen=[f"127.0.0.1:{port}"],
        manager=True,
        workers=args.workers,
        log_level=args.log_level,
    )
    try:
        check = apache.configtest()
        if not check.ok:
            raise SystemExit(f"apache2 -t failed:\n{check.output[-2000:]}")
        apache.start()
        assert http_get(port, "/", host=SITE).status == 200, apache.error_log()[-2000:]
        time.sleep(args.interval * 2)  # the first checks have run
        result: dict = {}

        def load() -> None:
            result["wrk"], result["cmd"] = wrk(port, args.connections, args.duration)

        started = time.monotonic()
        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(args.fail_at)
        failed_at = time.monotonic()
        victim = backends[VICTIM]
        if fault == "kill":
            victim.stop()
        elif fault == "error":
            victim.status = 500
        else:
            victim.delay = 60.0
        result["fault_seconds"] = time.monotonic() - failed_at  # how long the fault itself took to happen
        heal = None
        if args.heal_at:

            def healed() -> None:
                victim.status, victim.delay = 200, 0.0
                if not victim.running:
                    victim.start()

            heal = (started + args.heal_at, healed)
        seen = watch(apache.manager_url, failed_at, started + args.duration, heal)
        thread.join()
        return {"mode": mode, "fault": fault, "health_checks": health_checks, **result, **seen}
    finally:
        apache.stop()
        if args.keep_logs:
            Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
            shutil.copy(apache.error_log_path, Path(args.keep_logs) / f"{name}.error.log")
        backends[VICTIM].delay, backends[VICTIM].status = 0.0, 200
        if not backends[VICTIM].running:
            backends[VICTIM].start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--fail-at", type=float, default=2.0, help="seconds into the wrk run when zope2 fails")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--modes", default="single-pass,node-vhosts")
    parser.add_argument("--faults", default="kill", help="comma-separated: kill, error (HTTP 500), hang")
    parser.add_argument(
        "--heal-at", type=float, default=0, help="seconds into the run when zope2 is healthy again (0: never)"
    )
    parser.add_argument("--interval", type=int, default=1, help="hcinterval of every Zope server (seconds)")
    parser.add_argument("--fails", type=int, default=2, help="hcfails")
    parser.add_argument("--passes", type=int, default=1, help="hcpasses")
    parser.add_argument("--workers", default="2x64", help="front-end processes x threads")
    parser.add_argument("--log-level", default="warn", help="the front-end's LogLevel, e.g. info or proxy:debug")
    parser.add_argument("--keep-logs", default="", help="copy each front-end's error log into this directory")
    args = parser.parse_args()
    args.workers = tuple(int(x) for x in args.workers.lower().split("x"))

    call_command("migrate", verbosity=0)
    call_command("seed_demo", sites=0, no_user=True, verbosity=0)
    backends = {name: Backend(name).start() for name in SERVERS}
    for name, backend in backends.items():
        ZopeServer.objects.filter(name=name).update(
            port=backend.port,
            health_path="/health",
            health_interval=args.interval,
            health_fails=args.fails,
            health_passes=args.passes,
        )
    print(
        f"wrk -c{args.connections} -d{args.duration}s on {SITE}; {VICTIM} fails {args.fail_at} s in; "
        f"hcinterval={args.interval} hcfails={args.fails} hcpasses={args.passes}; front-end "
        f"{args.workers[0]} x {args.workers[1]} event workers"
    )
    rows = []
    try:
        for _ in range(args.runs):
            for mode in args.modes.split(","):
                for fault in args.faults.split(","):
                    for health_checks in (True, False):  # alternating, same backends
                        row = run_once(args, mode, fault, health_checks, backends)
                        rows.append(row)
                        print(row, flush=True)
    finally:
        for backend in backends.values():
            backend.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    print(
        "\n| mode | fault | health checks | requests | failed (non-2xx / socket c,r,w,t) | out of rotation after"
        " | last request sent to it after | back in rotation after healing |\n|---|---|---|---|---|---|---|---|"
    )
    for r in rows:
        w = r["wrk"]
        out = "not within the run" if r["out_after"] is None else f"{r['out_after']:.1f} s ({r['out_flag']})"
        back = (
            "-" if not r["healed"] else "not within the run" if r["back_after"] is None else f"{r['back_after']:.1f} s"
        )
        print(
            f"| {r['mode']} | {r['fault']} | {'on' if r['health_checks'] else 'off'} | {w['requests']:,} | "
            f"{w['failed']} ({w['non2xx']} / {','.join(map(str, w['socket']))}) | {out} | "
            f"{r['last_sent_after']:.1f} s | {back} |"
        )
    print("\ncommand: " + rows[0]["cmd"] if rows else "")


if __name__ == "__main__":
    main()
