"""The REST API of alerts: channels (operators: create, list, change, delete, test) and alerts (read).
Thin doors into alerts.services and alerts.selectors; `secret` is write-only and never answered."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from alerts.models import Alert, AlertChannel, Notification
from alerts.services import alert_channel_create, alert_channel_delete, alert_channel_test, alert_channel_update
from api.alerts.serializers import AlertChannelSerializer, AlertSerializer, NotificationSerializer
from api.base.views import DELETE_SCHEMA, ApiMixin
from api.errors import service_error
from api.permissions import may_operate


class OperatorsOnly(BasePermission):
    """Alert channels name people's addresses and hold webhook secrets: operators only, even to read."""

    message = "Alert channels are for operator tokens and operators."

    def has_permission(self, request, view) -> bool:
        return may_operate(request)


def _service(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except DjangoValidationError as exc:
        raise service_error(exc, model=AlertChannel) from None


@extend_schema_view(
    list=extend_schema(summary="Alert channels"),
    create=extend_schema(summary="Create an alert channel (e-mail or webhook)"),
    retrieve=extend_schema(summary="An alert channel"),
    partial_update=extend_schema(summary="Change an alert channel (secret: write-only; omit it to keep it)"),
    destroy=DELETE_SCHEMA,
)
class AlertChannelViewSet(ApiMixin, viewsets.ModelViewSet):
    """Where alerts go and which events each channel receives."""

    operation_noun = "alert_channel"

    serializer_class = AlertChannelSerializer
    queryset = AlertChannel.objects.all()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        return [*super().get_permissions(), OperatorsOnly()]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = _service(alert_channel_create, actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(channel).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        channel = _service(alert_channel_update, serializer.instance, actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(channel).data)

    def destroy(self, request, *args, **kwargs):
        channel = self.get_object()
        _service(alert_channel_delete, channel, actor=self.actor)
        return self.deleted(channel.name, None)

    @extend_schema(summary="Send a test message now", request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        notification = alert_channel_test(self.get_object(), actor=self.actor)
        return Response(NotificationSerializer(notification).data)


@extend_schema_view(
    list=extend_schema(summary="Open and past alerts, newest first (filter: state, event)"),
    retrieve=extend_schema(summary="An alert with every message and delivery attempt"),
)
class AlertViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts: when each was first seen, fired, delivered and resolved."""

    operation_noun = "alert"

    serializer_class = AlertSerializer
    queryset = Alert.objects.prefetch_related(
        Prefetch("notifications", queryset=Notification.objects.prefetch_related("delivery_attempts"))
    )
    filterset_fields = ["state", "event"]
