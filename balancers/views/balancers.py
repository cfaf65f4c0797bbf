"""Pages of balancers: list (with member and site counts), detail, add, edit, delete."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from balancers import services
from balancers.choices import ServerKind
from balancers.forms import (
    BalancerForm,
)
from balancers.models import Balancer
from balancers.selectors.effects import change_effect, without_balancer
from balancers.selectors.inventory import balancer_members, balancer_site_counts, balancers_with_counts
from balancers.selectors.overview import balancer_live_members
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ServiceCreateView, ServiceDeleteView, ServiceUpdateView


class BalancerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        kind = self.request.GET.get("kind", "")
        kind = kind if kind in ServerKind.values else ""
        balancers = balancers_with_counts()
        context.update(
            balancers=[b for b in balancers if b.kind == kind] if kind else balancers,
            kind=kind,
            kinds=ServerKind.choices,
        )
        return context


class BalancerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/balancer_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        balancer = get_object_or_404(Balancer, pk=kwargs["pk"])
        counts = balancer_site_counts(balancer)
        members = balancer_members(balancer)
        live = balancer_live_members(balancer, members)
        for member in members:
            member.live = live.get(member.pk, {})  # {front-end name: worker}, from the poller's latest samples
        context.update(
            balancer=balancer,
            members=members,
            site_count=counts["total"],
            suspended_count=counts["suspended"],
        )
        return context


class BalancerCreateView(ServiceCreateView):
    form_class = BalancerForm
    noun, list_url = "balancer", "balancers:balancer_list"
    create_service = staticmethod(services.balancer_create)


class BalancerUpdateView(ServiceUpdateView):
    form_class, model = BalancerForm, Balancer
    noun, fields = "balancer", services.BALANCER_FIELDS
    update_service = staticmethod(services.balancer_update)


class BalancerDeleteView(ServiceDeleteView):
    model, noun, list_url = Balancer, "balancer", "balancers:balancer_list"
    delete_service = staticmethod(services.balancer_delete)

    def question(self, balancer):
        return f"Delete balancer {balancer.name} and its members? A balancer that still has sites cannot be deleted."

    def effect(self, balancer):
        return change_effect(without_balancer(balancer.name))
