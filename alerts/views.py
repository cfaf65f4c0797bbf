"""Pages of the alerts app: open and past alerts (each message and attempt), and the channels operators
configure (which events go where), with a test message. Thin doors into alerts.services / selectors."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from alerts.forms import AlertChannelForm
from alerts.models import Alert, AlertChannel
from alerts.selectors import alert_with_attempts, alerts_page, channels, recent_tests
from alerts.services import alert_channel_create, alert_channel_delete, alert_channel_test, alert_channel_update
from hostpanel.permissions import PanelAccessMixin
from hostpanel.web import ConfirmView, ServiceFormView, web_actor


class AlertListView(PanelAccessMixin, TemplateView):
    template_name = "alerts/alert_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["alerts"] = alerts_page()
        return context


class AlertDetailView(PanelAccessMixin, TemplateView):
    template_name = "alerts/alert_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        alert = get_object_or_404(Alert, pk=kwargs["pk"])
        context.update(alert=alert, notifications=alert_with_attempts(alert))
        return context


class ChannelListView(PanelAccessMixin, TemplateView):
    template_name = "alerts/channel_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["channels"] = [(c, recent_tests(c, limit=1)) for c in channels()]
        return context


class ChannelCreateView(ServiceFormView):
    title = "New alert channel"
    form_class = AlertChannelForm

    def get_cancel_url(self) -> str:
        return reverse("alerts:channel_list")

    def perform(self, data):
        return alert_channel_create(actor=web_actor(self.request), **data)

    def success_message(self, result) -> str:
        return f"Alert channel {result.name} created."


class ChannelUpdateView(ChannelCreateView):
    title = "Change alert channel"
    submit_label = "Save"

    def dispatch(self, request, *args, **kwargs):
        self.channel = get_object_or_404(AlertChannel, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        c = self.channel
        return {"name": c.name, "kind": c.kind, "target": c.target, "events": c.events, "enabled": c.enabled}

    def perform(self, data):
        return alert_channel_update(self.channel, actor=web_actor(self.request), **data)

    def success_message(self, result) -> str:
        return f"Alert channel {result.name} saved."


class ChannelDeleteView(ConfirmView):
    title = "Delete alert channel"
    button = "Delete"
    button_class = "danger"
    reauthenticate = True

    def get_object(self):
        return get_object_or_404(AlertChannel, pk=self.kwargs["pk"])

    def question(self, channel):
        return f"Delete the alert channel {channel.name} ({channel.target})? Its past messages stay listed."

    def cancel_url(self, channel):
        return reverse("alerts:channel_list")

    def perform(self, channel, data):
        alert_channel_delete(channel, actor=web_actor(self.request))
        return f"Alert channel {channel.name} deleted.", reverse("alerts:channel_list")


class ChannelTestView(ChannelDeleteView):
    title = "Send a test message"
    button = "Send it now"
    button_class = "primary"
    reauthenticate = False

    def question(self, channel):
        return f"Send a test message to {channel.name} ({channel.target}) now?"

    def perform(self, channel, data):
        notification = alert_channel_test(channel, actor=web_actor(self.request))
        attempt = notification.delivery_attempts.order_by("-number").first()
        outcome = "delivered" if notification.status == "sent" else "NOT delivered (retried with backoff)"
        return f"Test message to {channel.name} {outcome}: {attempt.detail if attempt else ''}", reverse(
            "alerts:channel_list"
        )
