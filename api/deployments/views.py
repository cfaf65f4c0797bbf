"""Deployments: list, read, start (to every enabled front-end or the named ones) and roll back.
Thin doors into balancers.services."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
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
from balancers.selectors.effects import rollback_effect, rollback_refusal
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
        description=(
            "With `?dry_run=1` nothing is queued: the answer (200) is what the rollback would change on each "
            "front-end it reached (balancers.selectors.effects, the same the web confirmation shows): `offline` "
            "lists every site that would stop being served, `sites` the routing changes, `frontends` the diffs "
            "(MANIFEST left out). A rollback that would change nothing is refused (409)."
        ),
        request=None,
        parameters=[OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Only show the effect; queue nothing.")],
        responses={202: DeploymentAcceptedSerializer, 200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        deployment = self.get_object()
        if request.query_params.get("dry_run") in ("1", "true", "yes"):
            return Response(rollback_effect(deployment).as_dict(), status=status.HTTP_200_OK)
        refusal = rollback_refusal(deployment)
        if refusal:
            raise Conflict(refusal)
        try:
            new = deployment_rollback(deployment, actor=self.actor)
        except ValueError as exc:  # e.g. nothing stored to roll back to
            raise Conflict(str(exc)) from None
        return Response({"id": new.pk, "status": new.status}, status=status.HTTP_202_ACCEPTED)
