"""Render the Apache config tree of a front-end into a directory (optionally checked with apache2 -t)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from devrig import apache
from rendering.manifest import MANIFEST, parse_manifest, tree_digest
from rendering.render import UnsafeValue, render_tree
from rendering.snapshot import FrontEndRecord, load_snapshot


class Command(BaseCommand):
    help = (
        "Write the rendered Apache tree (hostpanel.conf, balancers.conf, nodes.conf, sites/, errors/, MANIFEST) "
        "of a front-end into --out. Without any front-end in the database, the defaults of a new one are used."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Directory to write the tree to (created if missing).")
        parser.add_argument("--frontend", help="Front-end name (required when there are several).")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Also run apache2 -t on the tree inside a throwaway standalone config (when apache2 is installed).",
        )

    def handle(self, *args, out: str, frontend: str | None, check: bool, **options):
        snapshot = load_snapshot()
        record = self._frontend(snapshot, frontend)
        try:
            tree = render_tree(snapshot, record)
        except UnsafeValue as exc:
            raise CommandError(f"Refusing to render: {exc}") from None

        if check:
            if apache.apache_binary() is None:
                self.stderr.write("apache2 is not installed: --check skipped.")
            else:
                # The tree's Include/Alias lines are absolute: check the same snapshot rendered for
                # the throwaway directory it is checked in.
                result = apache.check_rendered(
                    lambda config_dir: render_tree(snapshot, dataclasses.replace(record, config_dir=config_dir)),
                    listen=(record.http_listen, f"{record.https_listen} https"),
                )
                if not result.ok:
                    raise CommandError(f"apache2 -t failed, nothing written:\n{result.output}")
                self.stdout.write(f"apache2 -t: {result.output} ({result.seconds:.2f} s)")

        out_dir = Path(out)
        self._write(tree, out_dir)
        size = sum(len(text.encode()) for text in tree.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Front-end {record.name}: {len(tree)} files, {size} bytes written to {out_dir} "
                f"(revision {tree_digest(tree)[:12]})."
            )
        )

    def _frontend(self, snapshot, name: str | None) -> FrontEndRecord:
        if name:
            try:
                return snapshot.frontend(name)
            except KeyError:
                raise CommandError(f"No front-end named {name!r}.") from None
        if not snapshot.frontends:
            return FrontEndRecord(name="default")
        if len(snapshot.frontends) == 1:
            return snapshot.frontends[0]
        names = ", ".join(f.name for f in snapshot.frontends)
        raise CommandError(f"Several front-ends ({names}): choose one with --frontend.")

    def _write(self, tree: dict[str, str], out_dir: Path) -> None:
        """Write the tree; files of a previous render (listed in its MANIFEST) that are gone are removed.
        A non-empty directory without a MANIFEST is refused rather than mixed with other files."""
        old: dict[str, str] = {}
        if out_dir.exists():
            manifest = out_dir / MANIFEST
            if manifest.exists():
                try:
                    old = parse_manifest(manifest.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise CommandError(f"{manifest}: {exc}") from None
            elif any(out_dir.iterdir()):
                raise CommandError(f"{out_dir} is not empty and holds no rendered tree (no MANIFEST); not writing.")
        apache.write_tree(tree, out_dir)
        for stale in sorted(set(old) - set(tree)):
            path = out_dir / stale
            if path.is_file():
                path.unlink()
