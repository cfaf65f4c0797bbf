"""Pages of front-ends: list, detail, add, edit, delete, and the connection test."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import TemplateView

from balancers import services
from balancers.deploy.checks import frontend_test_connection
from balancers.forms import (
    FrontEndForm,
)
from balancers.models import DeploymentHost, FrontEnd
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, web_actor


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
        )
        return context


class _FrontEndFormView(ServiceFormView):
    form_class = FrontEndForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}


class FrontEndCreateView(_FrontEndFormView):
    title = "Add a front-end"
    submit_label = "Add front-end"

    def get_cancel_url(self):
        return reverse("balancers:frontend_list")

    def perform(self, data):
        return services.frontend_create(actor=web_actor(self.request), **data)

    def success_message(self, frontend):
        return f"Front-end {frontend.name} added."


class FrontEndUpdateView(_FrontEndFormView):
    submit_label = "Save changes"

    @cached_property
    def frontend(self) -> FrontEnd:
        return get_object_or_404(FrontEnd, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit front-end {self.frontend.name}"

    def get_initial(self):
        initial = {name: getattr(self.frontend, name) for name in services.FRONTEND_FIELDS}
        initial.pop("manager_password")  # never sent back to the browser
        return initial

    def get_cancel_url(self):
        return self.frontend.get_absolute_url()

    def perform(self, data):
        return services.frontend_update(self.frontend, actor=web_actor(self.request), **data)

    def success_message(self, frontend):
        return f"Front-end {frontend.name} saved."


class FrontEndDeleteView(ConfirmView):
    title = "Delete front-end"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(FrontEnd, pk=self.kwargs["pk"])

    def question(self, frontend):
        return f"Delete front-end {frontend.name}? The panel stops deploying to it; its Apache is not touched."

    def perform(self, frontend, data):
        name = frontend.name
        services.frontend_delete(frontend, actor=web_actor(self.request))
        return f"Front-end {name} deleted.", reverse("balancers:frontend_list")


class FrontEndTestView(OperatorRequiredMixin, View):
    """POST: SSH login, pinned host key and configtest, each step's result (balancers.deploy.checks)."""

    def post(self, request, pk):
        frontend = get_object_or_404(FrontEnd, pk=pk)
        context = {"frontend": frontend, "steps": None, "error": ""}
        try:
            context["steps"] = frontend_test_connection(frontend)
        except Exception as exc:  # noqa: BLE001 - show any failure of the test itself to the operator
            context["error"] = f"{type(exc).__name__}: {exc}"
        return render(request, "balancers/frontend_test.html", context)
