"""Pages of deployments: history, detail with per-host progress and diffs, rollback, and Deploy now."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from balancers import services
from balancers.forms import (
    DeployForm,
)
from balancers.models import Deployment, FrontEnd
from balancers.selectors.deployments import (
    deployment_causes,
    deployment_diffs,
    deployment_hosts,
    deployment_list,
    first_cause_text,
    held_frontends,
    merge_summaries,
    pending_changes,
)
from balancers.selectors.effects import rollback_effect, rollback_offered, rollback_refusal
from hostpanel.permissions import OperatorRequiredMixin, PanelAccessMixin
from hostpanel.web import ConfirmView, web_actor


class DeploymentListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/deployment_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(deployment_list(), 50).get_page(self.request.GET.get("page"))
        deployments = list(page.object_list)
        for deployment in deployments:
            deployment.why = first_cause_text(deployment)
        context.update(page=page, deployments=deployments)
        return context


class DeploymentDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/deployment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = get_object_or_404(Deployment, pk=kwargs["pk"])
        diffs = deployment_diffs(deployment)
        causes, cause_count = deployment_causes(deployment)
        context.update(
            deployment=deployment,
            rollback_offered=rollback_offered(deployment),
            hosts=deployment_hosts(deployment),
            diffs=diffs,
            causes=causes,
            more_causes=cause_count - len(causes),
            summary=merge_summaries([d["summary"] for d in diffs]) if diffs else None,
        )
        return context


class DeploymentProgressView(PanelAccessMixin, View):
    """The per-host progress partial the detail page polls every 2 s while the deployment runs."""

    def get(self, request, pk):
        deployment = get_object_or_404(Deployment, pk=pk)
        return render(
            request,
            "balancers/_deployment_progress.html",
            {"deployment": deployment, "hosts": deployment_hosts(deployment)},
        )


class DeploymentBadgeView(PanelAccessMixin, View):
    """The "Deployment #n (status)" link of a flash message, polled until the deployment finishes."""

    def get(self, request, pk):
        deployment = get_object_or_404(Deployment.objects.only("pk", "status"), pk=pk)
        return render(request, "balancers/_deployment_badge.html", {"deployment": deployment})


class DeploymentRollbackView(ConfirmView):
    title = "Roll back"
    button = "Roll back to this revision"
    button_class = "danger"
    reauthenticate = True

    def get_object(self):
        return get_object_or_404(Deployment, pk=self.kwargs["pk"])

    def question(self, deployment):
        revision = f" (revision {deployment.revision[:12]})" if deployment.revision else ""
        return (
            f"Deploy the configuration of deployment #{deployment.pk}{revision} "
            "again to the front-ends it reached? Below: what each of them would serve differently."
        )

    def effect(self, deployment):
        return rollback_effect(deployment)

    def nothing_to_do(self, deployment, effect):
        return rollback_refusal(deployment)

    def perform(self, deployment, data):
        refusal = rollback_refusal(deployment)
        if refusal:
            raise ValidationError(refusal)
        try:
            new = services.deployment_rollback(deployment, actor=web_actor(self.request))
        except ValueError as exc:  # e.g. no stored tree to roll back to
            raise ValidationError(str(exc)) from None
        return f"Rollback started as deployment #{new.pk}.", new.get_absolute_url()


class DeployNowView(OperatorRequiredMixin, View):
    """GET: what would change on each front-end; POST: start the deployment and show its progress."""

    template_name = "balancers/deploy_now.html"

    def get(self, request):
        try:
            diffs, preview_error = pending_changes(), ""
        except Exception as exc:  # noqa: BLE001 - a failing preview must not hide the page
            diffs, preview_error = None, f"{type(exc).__name__}: {exc}"
        return render(
            request,
            self.template_name,
            {
                "form": DeployForm(),
                "holds": held_frontends(),
                "preview_error": preview_error,
                "diffs": diffs,
                "frontends": FrontEnd.objects.filter(enabled=True).order_by("name"),
            },
        )

    def post(self, request):
        form = DeployForm(request.POST)
        accept = form.is_valid() and form.cleaned_data["accept_differences"]
        try:
            deployment = services.deployment_start(
                actor=web_actor(request), trigger="manual", accept_differences=accept
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(reverse("balancers:deploy_now"))
        except ValueError as exc:  # e.g. no front-end to deploy to
            messages.error(request, f"Nothing was deployed: {exc}.")
            return HttpResponseRedirect(reverse("balancers:deploy_now"))
        if deployment is None:
            messages.info(request, "Nothing to deploy.")
            return HttpResponseRedirect(reverse("balancers:deployment_list"))
        messages.success(request, f"Deployment #{deployment.pk} started.")
        return HttpResponseRedirect(deployment.get_absolute_url())
