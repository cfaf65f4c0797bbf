"""The serializer of live status, derived from the selector's TypedDicts (api.readmodels)."""

from __future__ import annotations

from api.readmodels import serializer_for
from balancers.selectors.overview import StatusOverview

# GET /api/v1/status/ returns balancers.selectors.overview.status_overview() as it is; its serializer (for the
# OpenAPI schema) is derived from the same TypedDicts the dashboard reads: the shape is written once.
StatusOverviewSerializer = serializer_for(StatusOverview)
