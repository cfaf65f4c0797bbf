"""Benchmark of the Apache config import: read + parse + preview of N hand-written vhosts (default 1,000),
and the equivalence check (old config vs HostPanel's rendering, two throwaway Apaches on loopback).

    .venv/bin/python bench/importer.py [--sites 1000] [--repeat 3] [--apply] [--check-sample 100] [--check-all]
    .venv/bin/python bench/importer.py --shape direct [--sites 1000]   # hand-written vhosts straight to a Zope
    .venv/bin/python bench/importer.py --corpus [--no-check]           # the public corpus (issue 25's figures)

--shape direct: each vhost is the most common hand-written shape (a VHM RewriteRule straight to one Zope,
`http://127.0.0.1:808N/VirtualHostBase/...`, eight Zope servers), imported as sites on one-member balancers.
--corpus: for each tree of tests/fixtures/importer/corpus (HTTPS trees with generated test certificates at
the paths they name), the vhosts that proxy imported / total, the sites left out, and the equivalence
check's verdict (needs apache2).

Self-contained: writes a seed-style 2.4 tree (devrig/handwritten.py) to a temp directory,
migrates a fresh SQLite database there (or uses DATABASE_URL), then times each phase of
import_preview separately: read (files, includes, tokenizing), recognise, plan (matching and
full_clean() of every candidate). --apply also times import_apply into the empty database.
The equivalence check (needs apache2) runs on --check-sample sites, evenly spread (default 100;
--check-all: every site), and prints its requests, time and per-request cost.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.TemporaryDirectory(prefix="hostpanel-bench-import-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP.name}/bench.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "hostpanel.test_settings"

import django  # noqa: E402 - settings must be chosen before Django loads

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devrig import pki
from devrig.handwritten import handwritten_tree, write_tree
from devrig.pki import TrustedPKI
from hostpanel.audit import Actor
from importer.equivalence import check_equivalence
from importer.plan import build_plan
from importer.reader import DirectorySource, read_config
from importer.recognise import recognise
from importer.service import import_apply


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--check-sample", type=int, default=100, help="sites the equivalence check asks (0: skip)")
    parser.add_argument("--check-all", action="store_true", help="equivalence check of every site")
    parser.add_argument("--shape", choices=("seed", "direct"), default="seed")
    parser.add_argument("--corpus", action="store_true", help="the figures on the public corpus")
    parser.add_argument("--no-check", action="store_true", help="--corpus without the equivalence check")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.corpus:
        corpus(check=not args.no_check)
        return
    files = handwritten_tree(args.sites) if args.shape == "seed" else direct_tree(args.sites)
    root = write_tree(files, Path(TMP.name) / "etc-apache2")
    best: dict[str, float] = {}
    plan = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tree = read_config(DirectorySource(root))
        t1 = time.perf_counter()
        recognition = recognise(tree)
        t2 = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            plan = build_plan(recognition)
        t3 = time.perf_counter()
        for name, value in (("read+parse", t1 - t0), ("recognise", t2 - t1), ("plan", t3 - t2), ("total", t3 - t0)):
            best[name] = min(best.get(name, value), value)
    assert plan is not None and not plan.errors and not plan.skipped, plan.problems[:3] if plan else None
    print(
        f"{args.sites} vhosts, {len(tree.files)} files, {tree.total_bytes / 1024:.0f} KiB; "
        f"{len(plan.sites)} sites, {len(plan.members)} members, {len(plan.unrecognised)} unrecognised; "
        f"plan: {len(queries)} queries"
    )
    print("best of", args.repeat, ": " + ", ".join(f"{name} {value * 1000:.0f} ms" for name, value in best.items()))
    if args.check_sample or args.check_all:
        sample = None if args.check_all else args.check_sample
        report = check_equivalence(plan, sample=sample)
        assert not report.error, report.error
        print(
            f"equivalence check: {len(report.sites)} of {report.total_sites} sites (+{len(report.balancers)} balancer "
            f"probes), {report.requests} requests, {report.seconds:.2f} s "
            f"({report.seconds / max(1, report.requests) * 1000:.1f} ms per request incl. 2 Apache starts); "
            f"equivalent: {report.equivalent}"
        )
    if args.apply:
        t0 = time.perf_counter()
        result = import_apply(plan, actor=Actor.command("bench"))
        print(f"apply: {time.perf_counter() - t0:.2f} s, created {result.created}")


def direct_tree(count: int) -> dict[str, bytes]:
    """count hand-written vhosts in the direct-Zope shape (Debian layout, one file per site)."""
    files = {
        "apache2.conf": b"Timeout 300\nKeepAlive On\nListen 80\nIncludeOptional sites-enabled/*.conf\n",
    }
    for i in range(count):
        name = f"client{i:04d}.example.com"
        files[f"sites-enabled/{name}.conf"] = (
            f"<VirtualHost *:80>\n    ServerName {name}\n    ServerAlias www.{name}\n"
            f"    ErrorLog /var/log/apache2/{name}.error.log\n    RewriteEngine On\n"
            f"    RewriteRule ^/(.*) http://127.0.0.1:{8080 + i % 8}/VirtualHostBase/http/%{{SERVER_NAME}}:80"
            f"/plone/c{i}/VirtualHostRoot/$1 [L,P]\n</VirtualHost>\n"
        ).encode()
    return files


def with_certificates(tree: Path, authority: TrustedPKI) -> Path:
    """A copy of a corpus tree with generated test certificates at the paths its HTTPS vhosts name (the
    corpus commits none)."""
    copy = Path(TMP.name) / "corpus" / tree.name
    shutil.copytree(tree, copy)
    texts = "".join(p.read_text() for p in copy.rglob("*.conf"))
    for found in re.finditer(r"SSLCertificateFile\s+/etc/apache2/(\S+)\.crt", texts):
        base = copy / found[1]
        base.parent.mkdir(parents=True, exist_ok=True)
        domain = base.name
        cert, key = pki.leaf(authority.intermediate, [domain])
        chain = pki.pem(authority.intermediate.cert)
        if "SSLCertificateChainFile" in texts:
            (base.parent / "chain.pem").write_text(chain)
            (base.parent / f"{domain}.crt").write_text(pki.pem(cert))
        else:
            (base.parent / f"{domain}.crt").write_text(pki.pem(cert) + chain)
        (base.parent / f"{domain}.key").write_text(pki.key_pem(key))
    return copy


def corpus(*, check: bool) -> None:
    root = ROOT / "tests" / "fixtures" / "importer" / "corpus"
    (Path(TMP.name) / "pki").mkdir()
    authority = TrustedPKI.create(Path(TMP.name) / "pki")
    settings.HOSTPANEL_CUSTOM_CA_BUNDLE = authority.roots_file
    imported = total = 0
    for original in sorted(p for p in root.iterdir() if p.is_dir()):
        tree = with_certificates(original, authority)
        plan = build_plan(recognise(read_config(DirectorySource(tree))))
        proxying = {(v.file, v.line) for v in plan.recognition.proxying}
        done = {w for p in plan.sites for w in (p.candidate.vhosts or [(p.candidate.file, p.candidate.line)])}
        got = len(proxying & done)
        imported, total = imported + got, total + len(proxying)
        line = f"{tree.name:36} proxying vhosts imported {got}/{len(proxying)}, sites {len(plan.sites)}"
        line += f", left out {len(plan.skipped)}, options {len(plan.options)}, unrecognised {len(plan.unrecognised)}"
        if check:
            report = check_equivalence(plan)
            line += f"; equivalence: {report.headline()} ({report.seconds:.1f} s)"
        print(line)
    print(f"corpus: vhosts that proxy, imported / total: {imported}/{total}")


if __name__ == "__main__":
    main()
