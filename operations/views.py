"""Pages of the operations app: rolling restarts (start with confirmation, progress, resume, cancel) and a
Zope server's restart settings. Thin doors into operations.services and operations.selectors."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views import View
from django.views.generic import TemplateView

from balancers.choices import ServerKind
from balancers.models import Balancer, ZopeServer
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, web_actor
from operations.forms import ZopeServerOpsForm
from operations.models import RollingRestart
from operations.selectors import restart_plan, restart_progress, restart_refusals, zope_server_ops
from operations.services import (
    RestartRefused,
    rolling_restart_cancel,
    rolling_restart_resume,
    rolling_restart_start,
    zope_server_ops_update,
)


class RestartListView(PanelAccessMixin, TemplateView):
    template_name = "operations/restart_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(RollingRestart.objects.select_related("balancer"), 50).get_page(self.request.GET.get("page"))
        context.update(page=page, restarts=list(page.object_list))
        return context


class RestartDetailView(PanelAccessMixin, TemplateView):
    template_name = "operations/restart_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = get_object_or_404(RollingRestart.objects.select_related("balancer"), pk=kwargs["pk"])
        context.update(job=job, members=restart_progress(job))
        return context


class RestartProgressView(PanelAccessMixin, View):
    """The partial the job page polls every 2 s while the job runs."""

    def get(self, request, pk):
        job = get_object_or_404(RollingRestart.objects.select_related("balancer"), pk=pk)
        return render(request, "operations/_restart_progress.html", {"job": job, "members": restart_progress(job)})


def _refused(exc: RestartRefused) -> ValidationError:
    return ValidationError(exc.reasons)


class RestartStartView(ConfirmView):
    title = "Rolling restart"
    button = "Restart one by one"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    def question(self, balancer):
        routes = ", ".join(m.route for m in restart_plan(balancer)) or "no member"
        return (
            f"Restart the Zope servers of {balancer.name} one at a time ({routes}): drain on every front-end, wait "
            "until idle, restart, wait for the health path, warm, put back, settle, then the next one?"
        )

    def details(self, balancer):
        return "Sticky clients stay on their server until it drains."

    def nothing_to_do(self, balancer, effect):
        # said once, instead of the button (a refused POST shows the same reasons, not twice)
        reasons = restart_refusals(balancer)
        return "It cannot run now: " + " ".join(reasons) if reasons else ""

    def perform(self, balancer, data):
        try:
            job = rolling_restart_start(balancer=balancer, actor=web_actor(self.request))
        except RestartRefused as exc:
            raise _refused(exc) from None
        return f"Rolling restart #{job.pk} of {balancer.name} started.", job.get_absolute_url()


class RestartResumeView(ConfirmView):
    title = "Resume rolling restart"
    button = "Resume"

    def get_object(self):
        return get_object_or_404(RollingRestart.objects.select_related("balancer"), pk=self.kwargs["pk"])

    def question(self, job):
        left = [r for r in job.routes if r not in job.done_routes]
        return f"Go on with rolling restart #{job.pk}, from {left[0] if left else '?'} (starting with its drain)?"

    def perform(self, job, data):
        try:
            job = rolling_restart_resume(job, actor=web_actor(self.request))
        except RestartRefused as exc:
            raise _refused(exc) from None
        return f"Rolling restart #{job.pk} resumed.", job.get_absolute_url()


class RestartCancelView(ConfirmView):
    title = "Cancel rolling restart"
    button = "Cancel the job"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(RollingRestart.objects.select_related("balancer"), pk=self.kwargs["pk"])

    def question(self, job):
        return (
            f"Stop rolling restart #{job.pk}? A running job stops at its next safe point (never between a "
            "server's restart and its health check)."
        )

    def perform(self, job, data):
        try:
            job = rolling_restart_cancel(job, actor=web_actor(self.request))
        except RestartRefused as exc:
            raise _refused(exc) from None
        return f"Rolling restart #{job.pk}: cancellation requested.", job.get_absolute_url()


class ZopeServerOpsView(ServiceFormView):
    title = "Restart settings"
    form_class = ZopeServerOpsForm

    def dispatch(self, request, *args, **kwargs):
        self.server = get_object_or_404(ZopeServer, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        ops = zope_server_ops(self.server)
        kwargs["initial"] = {name: getattr(ops, name) for name in self.form_class.base_fields}
        kwargs["superuser"] = self.request.user.is_superuser
        kwargs["node"] = self.server.kind == ServerKind.NODE
        return kwargs

    def get_cancel_url(self) -> str:
        return self.server.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = f"Restart settings of {self.server.name}"
        return context

    def perform(self, data):
        return zope_server_ops_update(
            self.server, actor=web_actor(self.request), allow_commands=self.request.user.is_superuser, **data
        )

    def success_message(self, result) -> str:
        return f"Restart settings of {self.server.name} saved."
