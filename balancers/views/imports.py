"""Adopt an existing front-end (operators only): read -> preview -> (equivalence check) -> confirm -> import.

The source (a registered front-end read over SSH, or an uploaded archive kept by the service) is
remembered in the session, never the plan: every step reads it again and builds the plan again, and
the confirmation carries the previewed plan's fingerprint, so the import applies exactly what was
previewed (a changed config or database is refused: preview again). The same service as
`manage.py import_apache` (importer.service).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from balancers.forms import EquivalenceForm, ImportConfirmForm, ImportSourceForm
from balancers.models import FrontEnd
from balancers.selectors.effects import import_effect
from deploy.transport.protocol import TransportError
from hostpanel.permissions import OperatorRequiredMixin
from hostpanel.sessions import REAUTH_FIELD, ask_password, password_confirmed
from hostpanel.web import web_actor
from importer.archive import ArchiveRefused
from importer.plan import ImportPlan
from importer.reader import SourceError
from importer.service import (
    ImportRefused,
    import_apply,
    import_check_equivalence,
    import_preview_frontend,
    import_upload_discard,
    import_upload_preview,
    import_upload_store,
)
from importer.tokenizer import ConfigRefused

SOURCE_KEY = "hostpanel_import_source"
CHECK_KEY = "hostpanel_import_check"
SITES_PER_PAGE = 100
LISTED = 1000  # rows of each "not understood" / translated / ignored list shown (the counts are complete)
READ_ERRORS = (ConfigRefused, SourceError, TransportError, ArchiveRefused)


def _frontend(source: dict) -> FrontEnd | None:
    if source.get("kind") != "frontend":
        return None
    return FrontEnd.objects.filter(pk=source["frontend"]).first()


def _plan(source: dict) -> ImportPlan:
    if source.get("kind") == "frontend":
        frontend = _frontend(source)
        if frontend is None:
            raise SourceError("that front-end no longer exists")
        return import_preview_frontend(frontend, config_root=source["config_root"])
    return import_upload_preview(source.get("token", ""), name=source.get("name", ""))


def _start_again(request, message: str) -> HttpResponseRedirect:
    messages.error(request, message)
    return HttpResponseRedirect(reverse("balancers:import_start"))


class ImportStartView(OperatorRequiredMixin, View):
    template_name = "balancers/import_start.html"

    def get(self, request):
        return render(request, self.template_name, {"form": ImportSourceForm()})

    def post(self, request):
        form = ImportSourceForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        old = request.session.get(SOURCE_KEY) or {}
        if old.get("kind") == "upload":
            import_upload_discard(old.get("token", ""))
        data = form.cleaned_data
        if data["frontend"]:
            source = {"kind": "frontend", "frontend": data["frontend"].pk, "config_root": data["config_root"]}
        else:
            upload = data["archive"]
            try:
                token = import_upload_store(upload.read(), name=upload.name)
            except ArchiveRefused as exc:
                form.add_error("archive", f"Refused, nothing imported: {exc}")
                return render(request, self.template_name, {"form": form}, status=400)
            source = {"kind": "upload", "token": token, "name": upload.name[:200]}
        request.session[SOURCE_KEY] = source
        request.session.pop(CHECK_KEY, None)
        return HttpResponseRedirect(reverse("balancers:import_preview"))


class ImportPreviewView(OperatorRequiredMixin, View):
    template_name = "balancers/import_preview.html"

    def get(self, request):
        source = request.session.get(SOURCE_KEY)
        if not source:
            return HttpResponseRedirect(reverse("balancers:import_start"))
        try:
            plan = _plan(source)
        except READ_ERRORS as exc:
            return render(request, "balancers/import_refused.html", {"error": str(exc)}, status=400)
        check = request.session.get(CHECK_KEY)
        if check and check.get("fingerprint") != plan.fingerprint:
            check = None
        page = Paginator(plan.sites, SITES_PER_PAGE).get_page(request.GET.get("page"))
        members: dict[str, list] = {}
        for member in plan.members:
            members.setdefault(member.candidate.balancer, []).append(member)
        context = {
            "plan": plan,
            "source": source,
            "counts": plan.counts(),
            "count_rows": [(kind.replace("_", " "), row) for kind, row in plan.counts().items()],
            "blocking_count": len(plan.blocking_conflicts) + len(plan.errors),
            "page": page,
            "balancers": [(b, members.get(b.candidate.name, [])) for b in plan.balancers],
            "matches": [p for rows in plan.matches().values() for p in rows],
            "unrecognised": plan.unrecognised[:LISTED],
            "translated": plan.translated[:LISTED],
            "ignored": plan.ignored[:LISTED],
            "listed": LISTED,
            "check": check,
            # what the import would change on the front-ends, shown above its button (not when it is blocked)
            "effect": None if plan.blocked else import_effect(plan),
            "confirm_form": ask_password(request, ImportConfirmForm(initial={"fingerprint": plan.fingerprint})),
            "check_form": EquivalenceForm(initial={"fingerprint": plan.fingerprint}),
        }
        return render(request, self.template_name, context)


class ImportCheckView(OperatorRequiredMixin, View):
    """Run the equivalence check on the previewed plan (seconds: two throwaway Apaches on loopback)."""

    def post(self, request):
        source = request.session.get(SOURCE_KEY)
        form = EquivalenceForm(request.POST)
        if not source or not form.is_valid():
            return _start_again(request, "Nothing to check: start the import again.")
        try:
            plan = _plan(source)
        except READ_ERRORS as exc:
            return _start_again(request, f"Refused: {exc}")
        if plan.fingerprint != form.cleaned_data["fingerprint"]:
            messages.error(request, "The config or the panel changed since the preview: look at it again.")
            return HttpResponseRedirect(reverse("balancers:import_preview"))
        report = import_check_equivalence(
            plan, actor=web_actor(request), frontend=_frontend(source), sample=form.cleaned_data["sample"]
        )
        summary = report.summary(limit=500)
        summary["notes"] = sorted({n for c in [*report.balancers, *report.sites] for n in c.notes})[:20]
        summary["recorded"] = _frontend(source) is not None
        request.session[CHECK_KEY] = summary
        return HttpResponseRedirect(reverse("balancers:import_preview") + "#equivalence")


class ImportApplyView(OperatorRequiredMixin, View):
    def post(self, request):
        source = request.session.get(SOURCE_KEY)
        form = ask_password(request, ImportConfirmForm(request.POST))  # the password again unless given lately
        if source and REAUTH_FIELD in form.errors:
            messages.error(request, "Not imported: enter your password to confirm the import.")
            return HttpResponseRedirect(reverse("balancers:import_preview"))
        if not source or not form.is_valid():
            return _start_again(request, "Nothing to import: start again.")
        if not password_confirmed(request, form):
            messages.error(request, "Not imported: that is not your password.")
            return HttpResponseRedirect(reverse("balancers:import_preview"))
        try:
            plan = _plan(source)
        except READ_ERRORS as exc:
            return _start_again(request, f"Refused, nothing imported: {exc}")
        if plan.fingerprint != form.cleaned_data["fingerprint"]:
            messages.error(request, "Not imported: the config or the panel changed since the preview. Check it again.")
            return HttpResponseRedirect(reverse("balancers:import_preview"))
        try:
            result = import_apply(plan, actor=web_actor(request), accept_warnings=form.cleaned_data["accept_warnings"])
        except ImportRefused as exc:
            messages.error(request, "Not imported, nothing was written: " + "; ".join(exc.reasons[:10]))
            return HttpResponseRedirect(reverse("balancers:import_preview"))
        if source.get("kind") == "upload":
            import_upload_discard(source.get("token", ""))
        request.session.pop(SOURCE_KEY, None)
        request.session.pop(CHECK_KEY, None)
        if not any(result.created.values()):
            messages.info(request, "Nothing new to import: everything in this config is already in the panel.")
        else:
            made = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in result.created.items())
            note = f" Deployment #{result.deployment.pk} queued." if result.deployment else ""
            messages.success(request, f"Imported: {made}.{note}")
        return HttpResponseRedirect(reverse("balancers:import_start"))
