"""Deployments: list, read, start (to every enabled front-end or the named ones) and roll back.
Thin doors into balancers.services."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base.views import ApiMixin
from api.deployments.serializers import (
    DeploymentAcceptedSerializer,
    DeploymentSerializer,
    DeploymentStartSerializer,
)
from api.errors import Conflict
from balancers.models import Deployment, DeploymentHost
from balancers.selectors.inventory import frontends_named
from balancers.services import deployment_rollback, deployment_start


@extend_schema_view(
    list=extend_schema(summary="Deployments, newest first"),
    retrieve=extend_schema(summary="A deployment with its per-front-end progress"),
)
class DeploymentViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments of the rendered config to the front-ends, newest first."""

    operation_noun = "deployment"

    serializer_class = DeploymentSerializer
    queryset = Deployment.objects.prefetch_related(
        Prefetch("hosts", queryset=DeploymentHost.objects.order_by("frontend_name"))
    )

    @extend_schema(
        summary="Start a deployment to every enabled front-end (or the named ones)",
        request=DeploymentStartSerializer,
        responses={202: DeploymentAcceptedSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = DeploymentStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        names = serializer.validated_data.get("frontends")
        frontends = None
        if names is not None:
            frontends = frontends_named(names)
        try:
            deployment = deployment_start(actor=self.actor, trigger="manual", frontends=frontends)
        except ValueError as exc:  # e.g. no front-end to deploy to
            raise Conflict(str(exc)) from None
        return Response({"id": deployment.pk, "status": deployment.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Roll back to the revision before this deployment",
        request=None,
        responses={202: DeploymentAcceptedSerializer},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        deployment = self.get_object()
        try:
            new = deployment_rollback(deployment, actor=self.actor)
        except ValueError as exc:  # e.g. nothing stored to roll back to
            raise Conflict(str(exc)) from None
        return Response({"id": new.pk, "status": new.status}, status=status.HTTP_202_ACCEPTED)
