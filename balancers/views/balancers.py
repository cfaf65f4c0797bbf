"""Pages of balancers: list (with member and site counts), detail, add, edit, delete."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from balancers import services
from balancers.forms import (
    MEMBER_STATES,
    BalancerForm,
)
from balancers.models import Balancer
from balancers.selectors.inventory import balancer_members, balancer_site_counts, balancers_with_counts
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, deployment_note, web_actor


class BalancerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["balancers"] = balancers_with_counts()
        return context


class BalancerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        balancer = get_object_or_404(Balancer, pk=kwargs["pk"])
        counts = balancer_site_counts(balancer)
        context.update(
            balancer=balancer,
            members=balancer_members(balancer),
            site_count=counts["total"],
            suspended_count=counts["suspended"],
            states=[(key, label) for key, (label, _flags) in MEMBER_STATES.items()],
        )
        return context


class BalancerCreateView(ServiceFormView):
    form_class = BalancerForm
    title = "Add a balancer"
    submit_label = "Add balancer"

    def get_cancel_url(self):
        return reverse("balancers:balancer_list")

    def perform(self, data):
        return services.balancer_create(actor=web_actor(self.request), **data)

    def success_message(self, balancer):
        return f"Balancer {balancer.name} added."


class BalancerUpdateView(ServiceFormView):
    form_class = BalancerForm
    submit_label = "Save changes"

    @cached_property
    def balancer(self) -> Balancer:
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit balancer {self.balancer.name}"

    def get_initial(self):
        return {name: getattr(self.balancer, name) for name in services.BALANCER_FIELDS}

    def get_cancel_url(self):
        return self.balancer.get_absolute_url()

    def perform(self, data):
        return services.balancer_update(self.balancer, actor=web_actor(self.request), **data)

    def success_message(self, balancer):
        return f"Balancer {balancer.name} saved."


class BalancerDeleteView(ConfirmView):
    title = "Delete balancer"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(Balancer, pk=self.kwargs["pk"])

    def question(self, balancer):
        return f"Delete balancer {balancer.name} and its members? A balancer that still has sites cannot be deleted."

    def perform(self, balancer, data):
        name = balancer.name
        deployment = services.balancer_delete(balancer, actor=web_actor(self.request))
        return f"Balancer {name} deleted." + deployment_note(deployment), reverse("balancers:balancer_list")
