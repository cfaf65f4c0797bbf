"""The REST API of rolling restarts: thin doors into operations.services and operations.selectors.

POST /api/v1/balancers/{name}/rolling-restart/   -> 202 {id, url, status, routes}; 409 with every reason it cannot run
GET  /api/v1/rolling-restarts/[{id}/]            -> the job with its steps (one row per member and step)
POST /api/v1/rolling-restarts/{id}/resume/ | cancel/
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from api.base.views import ApiMixin
from api.errors import Conflict
from api.operations.serializers import RollingRestartAcceptedSerializer, RollingRestartSerializer
from balancers.models import Balancer
from operations.models import RollingRestart
from operations.services import (
    RestartRefused,
    rolling_restart_cancel,
    rolling_restart_resume,
    rolling_restart_start,
)


def _accepted(request, job: RollingRestart) -> Response:
    url = reverse("api:rollingrestart-detail", args=[job.pk], request=request)
    return Response(
        {"id": job.pk, "url": url, "status": job.status, "routes": job.routes},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


class RollingRestartStartView(ApiMixin, APIView):
    """Start a rolling restart of a balancer's Zope servers (a background job)."""

    operation_noun = "rolling_restart"

    path_examples = {"name": "bronze"}

    @extend_schema(
        summary="Restart the balancer's Zope servers one by one (drain, idle, restart, health, warm, undrain)",
        request=None,
        responses={202: RollingRestartAcceptedSerializer},
    )
    def post(self, request, name: str):
        balancer = get_object_or_404(Balancer, name=name)
        try:
            job = rolling_restart_start(balancer=balancer, actor=self.actor)
        except RestartRefused as exc:
            raise Conflict(str(exc)) from None
        return _accepted(request, job)


@extend_schema_view(
    list=extend_schema(summary="Rolling restarts, newest first"),
    retrieve=extend_schema(summary="A rolling restart with every step of every member"),
)
class RollingRestartViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rolling restarts of Zope servers and their steps."""

    operation_noun = "rolling_restart"

    serializer_class = RollingRestartSerializer
    queryset = RollingRestart.objects.select_related("balancer").prefetch_related("steps")

    @extend_schema(
        summary="Resume a stopped rolling restart", request=None, responses={202: RollingRestartAcceptedSerializer}
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        try:
            job = rolling_restart_resume(self.get_object(), actor=self.actor)
        except RestartRefused as exc:
            raise Conflict(str(exc)) from None
        return _accepted(request, job)

    @extend_schema(summary="Cancel a rolling restart", request=None, responses={200: RollingRestartSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            job = rolling_restart_cancel(self.get_object(), actor=self.actor)
        except RestartRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(self.get_serializer(job).data)
