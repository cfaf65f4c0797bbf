"""Pages of Zope servers: list, detail, add, edit, delete."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from balancers import services
from balancers.forms import (
    ZopeServerForm,
)
from balancers.models import ZopeServer
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, web_actor


class ZopeServerListView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["servers"] = ZopeServer.objects.annotate(member_count=Count("memberships")).order_by("name")
        return context


class ZopeServerDetailView(PanelAccessMixin, TemplateView):
    template_name = "balancers/zopeserver_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        server = get_object_or_404(ZopeServer, pk=kwargs["pk"])
        context.update(server=server, memberships=server.memberships.select_related("balancer"))
        return context


class ZopeServerCreateView(ServiceFormView):
    form_class = ZopeServerForm
    title = "Add a Zope server"
    submit_label = "Add Zope server"

    def get_cancel_url(self):
        return reverse("balancers:zopeserver_list")

    def perform(self, data):
        return services.zope_server_create(actor=web_actor(self.request), **data)

    def success_message(self, server):
        return f"Zope server {server.name} added."


class ZopeServerUpdateView(ServiceFormView):
    form_class = ZopeServerForm
    submit_label = "Save changes"

    @cached_property
    def server(self) -> ZopeServer:
        return get_object_or_404(ZopeServer, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Edit Zope server {self.server.name}"

    def get_initial(self):
        return {name: getattr(self.server, name) for name in services.ZOPE_SERVER_FIELDS}

    def get_cancel_url(self):
        return self.server.get_absolute_url()

    def perform(self, data):
        return services.zope_server_update(self.server, actor=web_actor(self.request), **data)

    def success_message(self, server):
        return f"Zope server {server.name} saved."


class ZopeServerDeleteView(ConfirmView):
    title = "Delete Zope server"
    button = "Delete"
    button_class = "danger"

    def get_object(self):
        return get_object_or_404(ZopeServer, pk=self.kwargs["pk"])

    def question(self, server):
        return f"Delete Zope server {server.name}? A server that is still a balancer member cannot be deleted."

    def perform(self, server, data):
        name = server.name
        services.zope_server_delete(server, actor=web_actor(self.request))
        return f"Zope server {name} deleted.", reverse("balancers:zopeserver_list")
