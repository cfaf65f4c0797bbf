"""Pages of application servers (Zope servers and Node.js frontend servers): list, detail, add, edit, delete."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from balancers import services
from balancers.choices import ServerKind
from balancers.forms import (
    ZopeServerForm,
)
from balancers.models import ZopeServer
from balancers.selectors.effects import change_effect, without_zope_server
from balancers.selectors.overview import frontends_checking_health
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ServiceCreateView, ServiceDeleteView, ServiceUpdateView


class ZopeServerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        servers = ZopeServer.objects.annotate(member_count=Count("memberships")).order_by("name")
        kind = self.request.GET.get("kind", "")
        if kind in ServerKind.values:
            servers = servers.filter(kind=kind)
        context.update(servers=servers, kind=kind if kind in ServerKind.values else "", kinds=ServerKind.choices)
        return context


class ZopeServerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        server = get_object_or_404(ZopeServer, pk=kwargs["pk"])
        checking, unchecked = frontends_checking_health()
        context.update(
            server=server,
            memberships=server.memberships.select_related("balancer"),
            hc_frontends=checking,
            no_hc_frontends=unchecked,
        )
        return context


class ZopeServerCreateView(ServiceCreateView):
    form_class = ZopeServerForm
    noun, list_url = "application server", "balancers:zopeserver_list"
    create_service = staticmethod(services.zope_server_create)


class ZopeServerUpdateView(ServiceUpdateView):
    form_class, model = ZopeServerForm, ZopeServer
    fields = services.ZOPE_SERVER_FIELDS
    update_service = staticmethod(services.zope_server_update)

    @property
    def noun(self) -> str:  # type: ignore[override]
        return "Zope server" if self.object.kind == ServerKind.ZOPE else "Node.js frontend server"


class ZopeServerDeleteView(ServiceDeleteView):
    model, noun, list_url = ZopeServer, "Zope server", "balancers:zopeserver_list"
    warning = "A server that is still a balancer member cannot be deleted."
    delete_service = staticmethod(services.zope_server_delete)

    def effect(self, server):
        return change_effect(without_zope_server(server.name))
