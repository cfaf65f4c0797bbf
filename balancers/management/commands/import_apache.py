"""manage.py import_apache (--from DIR | --frontend NAME [--config-root /etc/apache2]) [--check-equivalence
[--sample N]] [--apply [--accept-warnings]] — adopt a hand-written Apache config.

Without --apply it only previews: counts, the sites table, what matches existing rows, conflicts,
problems, and every directive that was not understood, with file:line. With --apply it imports what
it previewed (importer.service.import_apply: all or nothing, one audit entry).
--frontend reads the registered front-end's live config over its deploy transport (SSH).
--check-equivalence runs the old config and HostPanel's rendering side by side in throwaway Apaches
and lists every difference per site; with --frontend the result is recorded on it, and deploys to it
then need `manage.py deploy --accept-differences` while differences exist.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from balancers.selectors.inventory import frontends_named
from deploy.transport.protocol import TransportError
from hostpanel.audit import Actor
from importer.equivalence import EquivalenceReport
from importer.plan import ImportPlan
from importer.reader import SourceError
from importer.service import (
    DEFAULT_CONFIG_ROOT,
    ImportRefused,
    import_apply,
    import_check_equivalence,
    import_preview,
    import_preview_frontend,
)
from importer.tokenizer import ConfigRefused


class Command(BaseCommand):
    help = "Preview (and with --apply, import) a hand-written Apache config tree: Zope servers, balancers, sites."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from", dest="from_dir", metavar="DIR", help="A copied config tree (DIR/apache2.conf).")
        source.add_argument("--frontend", metavar="NAME", help="A registered front-end, read over SSH.")
        parser.add_argument(
            "--config-root",
            default=DEFAULT_CONFIG_ROOT,
            help=f"With --frontend: the Apache config directory there (default {DEFAULT_CONFIG_ROOT}).",
        )
        parser.add_argument("--server-root", help="Where the tree lives on the front-end (default: ServerRoot).")
        parser.add_argument(
            "--check-equivalence",
            action="store_true",
            help="Compare the old config and HostPanel's rendering on real throwaway Apaches (needs apache2).",
        )
        parser.add_argument("--sample", type=int, help="With --check-equivalence: check N sites, evenly spaced.")
        parser.add_argument("--apply", action="store_true", help="Import what the preview shows.")
        parser.add_argument("--accept-warnings", action="store_true", help="Import despite the warnings listed.")

    def handle(self, *args: Any, **options: Any) -> None:
        frontend = None
        try:
            if options["frontend"]:
                frontend = frontends_named([options["frontend"]])[0]
                plan = import_preview_frontend(frontend, config_root=options["config_root"])
            else:
                plan = import_preview(options["from_dir"], server_root=options["server_root"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except (ConfigRefused, SourceError, TransportError) as exc:
            raise CommandError(f"refused, nothing imported: {exc}") from exc
        self._preview(plan, verbose=options["verbosity"] > 1)
        if options["check_equivalence"]:
            report = import_check_equivalence(
                plan, actor=Actor.command("import_apache"), frontend=frontend, sample=options["sample"]
            )
            self._equivalence(report, recorded=frontend is not None)
        if not options["apply"]:
            self.stdout.write("Preview only: run again with --apply to import.")
            return
        try:
            result = import_apply(
                plan, actor=Actor.command("import_apache"), accept_warnings=options["accept_warnings"]
            )
        except ImportRefused as exc:
            for reason in exc.reasons:
                self.stderr.write(f"  {reason}")
            raise CommandError(f"not imported ({len(exc.reasons)} reasons above); nothing was written") from exc
        made = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in result.created.items())
        self.stdout.write(self.style.SUCCESS(f"Imported: {made}."))
        if result.deployment is not None:
            self.stdout.write(f"Automatic deployment requested: #{result.deployment.pk}.")

    def _preview(self, plan: ImportPlan, *, verbose: bool) -> None:
        out = self.stdout.write
        out(f"Read {len(plan.files)} files from {plan.source}.")
        for kind, row in plan.counts().items():
            out(f"  {kind.replace('_', ' '):13} {row['create']:5} to create, {row['match']:5} already in the panel")
        out("")
        out(f"{'site':40} {'aliases':30} {'kind':13} {'balancer':12} {'plone path':25} action")
        for planned in plan.sites:
            c = planned.candidate
            aliases = " ".join(name for name, _ in c.aliases)
            out(
                f"{c.domain[:40]:40} {aliases[:30]:30} {c.kind:13} {c.balancer[:12]:12} {c.plone_path[:25]:25} "
                f"{planned.action}"
            )
            if c.frontend_balancer:  # a Volto site: its pages on the Node.js frontend balancer
                extra = f", Classic UI {c.classic_ui_path}" if c.classic_ui_path else ""
                extra += ", API at /api today (HostPanel: /++api++)" if c.api_path == "/api" else ""
                out(f"{'':40}   frontend balancer {c.frontend_balancer}{extra}")
        out("")
        out("Balancers and members:")
        for planned in plan.balancers:
            c = planned.candidate
            kind = "Node.js frontend, " if c.kind == "node" else ""
            out(
                f"  {c.name} ({kind}{c.render_mode}, {c.lbmethod}, cookie {c.sticky_cookie} {c.cookie_ttl}s, "
                f"503 page {c.error_document or '-'}): {planned.action}"
            )
            for member in plan.members:
                m = member.candidate
                if m.balancer == c.name:
                    flags = "".join(f for f, on in (("+H", m.hot_standby), ("+N", m.drain), ("+D", m.disabled)) if on)
                    out(f"    {m.server:12} lbset={m.lbset} lf={m.loadfactor} {flags:4} ({m.url}): {member.action}")
        out("Servers (Zope and Node.js frontend):")
        for planned in plan.zope_servers:
            c = planned.candidate
            what = "Node.js" if c.kind == "node" else "Zope"
            out(f"  {what:7} {c.name:12} {c.host}:{c.port} (from a {c.via}, {c.file}:{c.line}): {planned.action}")
        matches = [p for rows in plan.matches().values() for p in rows]
        if matches:
            out(f"Already in the panel ({len(matches)}): " + ", ".join(p.key for p in matches[:50]))
        self._section("Conflicts (block the import)", [f"{c.file}:{c.line}: {c.message}" for c in plan.conflicts])
        self._section("Errors (block the import)", [f"{p.file}:{p.line}: {p.message}" for p in plan.errors])
        self._section("Warnings (need --accept-warnings)", [f"{p.file}:{p.line}: {p.message}" for p in plan.warnings])
        self._section(
            "Sites left out (the rest is imported)",
            [f"{s.file}:{s.line}: {s.domain}: {'; '.join(s.reasons)}" for s in plan.skipped],
        )
        self._section(
            "Structured site options the imported sites get (from extra rules, or the map)",
            [f"{domain}: structured site option {name} = {value}" for domain, name, value in plan.options],
        )
        self._section(
            "Not understood (kept out of the import; HostPanel will not render them)",
            [f"{u.file}:{u.line}: {u.text}  -- {u.why}" for u in plan.unrecognised],
        )
        self._section("Translated", [f"{t.file}:{t.line}: {t.text}  -> {t.as_}" for t in plan.translated])
        if verbose:
            self._section("Ignored (server-level)", [f"{i.file}:{i.line}: {i.text}" for i in plan.ignored])
        else:
            grouped: dict[str, list[str]] = defaultdict(list)
            for item in plan.ignored:
                grouped[item.text.split()[0]].append(f"{item.file}:{item.line}")
            self._section(
                "Ignored (server-level or without effect; -v 2 lists each)",
                [f"{name} x{len(where)}: {', '.join(where)}" for name, where in sorted(grouped.items())],
            )

    def _equivalence(self, report: EquivalenceReport, *, recorded: bool) -> None:
        out = self.stdout.write
        out(
            f"\nEquivalence check: {report.headline()}; {len(report.sites)} of {report.total_sites} sites asked, "
            f"{report.requests} requests, {report.seconds:.1f} s"
        )
        if report.error:
            out(self.style.ERROR(f"  could not run: {report.error}"))
        elif report.equivalent:
            out(self.style.SUCCESS("  equivalent: every request reached the same backend with the same path"))
        for check in report.differing:
            out(self.style.WARNING(f"  {check.domain}: {len(check.differences)} difference(s)"))
            for line in check.differences:
                out(f"    {line}")
        notes = sorted({n for c in [*report.balancers, *report.sites] for n in c.notes})
        self._section(
            "Expected differences (not counted)",
            notes[:20] + ([f"... {len(notes) - 20} more"] if len(notes) > 20 else []),
        )
        self._section("Not run in the check (not on its allowlist; the check says nothing about them)", report.not_run)
        self._section("The throwaway copy of the old config changed", report.changes)
        if recorded and not report.equivalent:
            out(
                "Recorded on the front-end: deploys to it need --accept-differences until the differences are resolved."
            )

    def _section(self, title: str, lines: list[str]) -> None:
        if not lines:
            return
        self.stdout.write(f"\n{title}: {len(lines)}")
        for line in lines:
            self.stdout.write(f"  {line}")
