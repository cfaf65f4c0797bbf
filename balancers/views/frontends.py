"""Pages of front-ends: list, detail, add, edit, delete, and the connection test."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views import View
from django.views.generic import TemplateView

from balancers import services
from balancers.forms import (
    FrontEndForm,
)
from balancers.models import DeploymentHost, FrontEnd
from deploy.checks import frontend_test_connection
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.web import ServiceCreateView, ServiceDeleteView, ServiceUpdateView
from metering.collect import frontend_backlog


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
        context.update(
            frontend=frontend,
            recent=DeploymentHost.objects.filter(frontend=frontend).select_related("deployment").order_by("-id")[:10],
            usage_backlog=frontend_backlog(frontend),
        )
        return context


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
            context["steps"] = frontend_test_connection(frontend)
        except Exception as exc:  # noqa: BLE001 - show any failure of the test itself to the operator
            context["error"] = f"{type(exc).__name__}: {exc}"
        return render(request, "balancers/frontend_test.html", context)
