"""Pages of front-ends: list, detail, add, edit, delete, and the connection test."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from balancers import services
from balancers.capacity import HTTPS_MODULES, LBMETHOD_MODULE, NEEDED_MODULES, OPTIONAL_MODULES, ApacheFacts
from balancers.forms import (
    FrontEndForm,
    PeakClientsForm,
)
from balancers.models import DeploymentHost, FrontEnd
from balancers.selectors.capacity import empty_usage, frontend_sizing, worker_usage
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.web import ServiceCreateView, ServiceDeleteView, ServiceUpdateView
from metering.backlog import frontend_backlog


class FrontEndListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/frontend_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["frontends"] = FrontEnd.objects.order_by("name")
        return context


class FrontEndDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/frontend_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        frontend = get_object_or_404(FrontEnd, pk=kwargs["pk"])
        sizing_form = PeakClientsForm(self.request.GET or None)
        peak = sizing_form.cleaned_data.get("peak_clients") if sizing_form.is_valid() else None
        context.update(
            frontend=frontend,
            recent=DeploymentHost.objects.filter(frontend=frontend).select_related("deployment").order_by("-id")[:10],
            facts=(facts := ApacheFacts.of(frontend)),
            module_rows=module_rows(facts),
            workers=worker_usage([frontend.pk], now=timezone.now()).get(frontend.pk) or empty_usage(),
            sizing=frontend_sizing(frontend, peak_clients=peak),
            sizing_form=sizing_form,
            usage_backlog=frontend_backlog(frontend),
        )
        return context


def module_rows(facts: ApacheFacts) -> list[tuple[str, bool, str]]:
    """(module, loaded, what HostPanel needs it for) for the front-end page's table."""
    rows = [(m, facts.has(m), "needed") for m in NEEDED_MODULES]
    rows += [(m, facts.has(m), "needed for HTTPS sites") for m in HTTPS_MODULES]
    rows += [(m, facts.has(m), f"optional: {what}") for m, what in OPTIONAL_MODULES.items()]
    rows += [(m, facts.has(m), f"lbmethod={method}") for method, m in LBMETHOD_MODULE.items() if facts.has(m)]
    return rows


class _UserFormMixin:
    """The front-end form shows the command fields to superusers only (they run on the front-end)."""

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}


class FrontEndCreateView(_UserFormMixin, ServiceCreateView):
    form_class = FrontEndForm
    noun, list_url = "front-end", "balancers:frontend_list"
    create_service = staticmethod(services.frontend_create)


class FrontEndUpdateView(_UserFormMixin, ServiceUpdateView):
    form_class, model = FrontEndForm, FrontEnd
    noun, fields, hidden_initial = "front-end", services.FRONTEND_FIELDS, ("manager_password",)
    update_service = staticmethod(services.frontend_update)


class FrontEndDeleteView(ServiceDeleteView):
    model, noun, list_url = FrontEnd, "front-end", "balancers:frontend_list"
    warning = "The panel stops deploying to it; its Apache is not touched."
    delete_service = staticmethod(services.frontend_delete)


class FrontEndTestView(OperatorRequiredMixin, View):
    """POST: SSH login, pinned host key and configtest, each step's result (deploy.checks)."""

    def post(self, request, pk):
        frontend = get_object_or_404(FrontEnd, pk=pk)
        context = {"frontend": frontend, "steps": None, "error": ""}
        try:
            context["steps"] = services.frontend_connection_test(frontend)
        except Exception as exc:  # noqa: BLE001 - show any failure of the test itself to the operator
            context["error"] = f"{type(exc).__name__}: {exc}"
        return render(request, "balancers/frontend_test.html", context)
