"""Live status: intended vs live state of every balancer (balancers.selectors.overview)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import permissions
from api.base.views import ApiMixin
from api.status.serializers import StatusOverviewSerializer
from balancers import services as balancer_services
from balancers.selectors.overview import status_overview


class StatusView(ApiMixin, APIView):
    """Intended (database) and live (each enabled front-end's latest sample, or with `?live=1` every one asked
    now, in parallel) state of every balancer, with drift, the last deployment and an hour of history; per
    front-end, its Apache workers (`workers`: the poller's mod_status samples against MaxRequestWorkers)."""

    operation_noun = "status"

    @extend_schema(
        summary="Balancer status: intended vs live, drift, history and each front-end's Apache workers",
        parameters=[
            OpenApiParameter(
                "live",
                bool,
                description="1: ask every front-end's balancer-manager now and keep the answers as the latest "
                "samples (operator tokens and operators only: 403 otherwise) instead of reading the poller's.",
            )
        ],
        responses={200: StatusOverviewSerializer},
    )
    def get(self, request):
        live = request.query_params.get("live", "").lower() in {"1", "true", "yes"}
        if live:
            permissions.require_operator(request, permissions.LIVE_STATUS_REFUSED)
        return Response(status_overview(hosts=balancer_services.status_refresh() if live else None))
