"""Traffic usage for billing: a site's series (`sites/{domain}/usage/`), every site's month (`usage/`), both as
paginated JSON or as CSV (`?format=csv` or `Accept: text/csv`: every row, no pages); and a site's monthly
quota (`sites/{domain}/quota/`). Thin doors into metering.selectors and metering.services."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import permissions
from api.base.serializers import DeletedSerializer
from api.base.views import ApiMixin, Pagination
from api.schema import ErrorSerializer
from api.usage.renderers import CSVRenderer
from api.usage.serializers import (
    CountsSerializer,
    FleetUsageSerializer,
    SiteMonthUsageSerializer,
    SiteQuotaSerializer,
    SiteUsageSerializer,
    UsageBucketSerializer,
)
from hostpanel.validators import normalize_hostname
from metering import selectors, services
from metering.models import QuotaEvent, SiteQuota
from sites.models import Site

# the span asked for when `from` is not given, per granularity (ending at `to`, default now)
DEFAULT_SPAN = {"hour": datetime.timedelta(hours=48), "day": datetime.timedelta(days=30)}
COUNT_COLUMNS = list(selectors.FIELDS)
BAD_REQUEST = OpenApiResponse(ErrorSerializer, description="A bad range, granularity or month; `errors` says which.")
FLEET_CHUNK = 1000  # sites per query pair in a CSV export


def parse_moment(text: str, name: str) -> datetime.datetime:
    """ISO 8601 date-time (with Z or an offset; without one it is UTC), a date (midnight UTC) or YYYY-MM."""
    value = None
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text) or (parse_date(text + "-01") if len(text) == 7 else None)
            if day is not None:
                value = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise DjangoValidationError(
            {name: "Give a UTC time in ISO 8601 (2026-11-01T00:00:00Z), a date (2026-11-01) or a month (2026-11)."}
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    if not 2000 <= value.year <= 9998:
        raise DjangoValidationError({name: "Give a year between 2000 and 9998."})
    return value.astimezone(datetime.UTC)


def site_for(domain: str) -> Site:
    try:  # the same normalisation as on save: case, final dot, IDN -> punycode
        normalized = normalize_hostname(domain)
    except DjangoValidationError:
        raise Http404 from None
    return get_object_or_404(Site.objects.only("id", "domain", "customer_ref", "status"), domain=normalized)


class UsagePagination(Pagination):
    def page_answer(self, data: list, **extra: Any) -> dict[str, Any]:
        return {
            **extra,
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        }


class UsageMixin(ApiMixin):
    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = UsagePagination
    api_area = permissions.AREA_USAGE

    @cached_property
    def paginator(self) -> UsagePagination:
        return UsagePagination()

    @property
    def wants_csv(self) -> bool:
        return (
            getattr(self.request, "accepted_renderer", None) is not None
            and self.request.accepted_renderer.format == "csv"
        )

    def handle_exception(self, exc):
        # an error is JSON even when CSV was asked for: a billing script reads why
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)

    def csv(self, rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
        response = Response({"results": rows})
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        self.csv_columns = columns
        return response

    def get_renderer_context(self) -> dict[str, Any]:
        return {**super().get_renderer_context(), "csv_columns": getattr(self, "csv_columns", None)}


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="csv: every row as CSV (no pages); same as Accept: text/csv."
)


class SiteUsageView(UsageMixin, APIView):
    """A site's requests, bytes and status classes per hour, day or month (UTC), zeros included."""

    operation_noun = "site_usage"
    path_examples = {"domain": "linux.co.uk"}

    @extend_schema(
        summary="A site's traffic per hour, day or month",
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.STR,
                description="Start (inclusive), rounded down to the bucket: ISO 8601 UTC time, date or YYYY-MM. "
                "Default: `to` minus 48 hours (hour), 30 days (day) or 12 months (month).",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.STR,
                description="End (exclusive), rounded up to the bucket. Default: now.",
            ),
            OpenApiParameter(
                "granularity",
                OpenApiTypes.STR,
                enum=["hour", "day", "month"],
                description="hour (at most 744 buckets, within the last HOSTPANEL_USAGE_HOURLY_DAYS days), "
                "day (at most 1098) or month (at most 120). Default: day.",
            ),
            FORMAT_PARAMETER,
            OpenApiParameter("page", int, description="Page of buckets (JSON)."),
            OpenApiParameter("page_size", int, description="Buckets per page, at most 500 (default 50)."),
        ],
        responses={
            (200, "application/json"): SiteUsageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            400: BAD_REQUEST,
        },
    )
    def get(self, request, domain: str):
        site = site_for(domain)
        params = request.query_params
        granularity = params.get("granularity") or "day"
        if granularity not in selectors.GRANULARITIES:
            raise DjangoValidationError({"granularity": "Use hour, day or month."})
        now = timezone.now()
        end = parse_moment(params["to"], "to") if params.get("to") else now
        if params.get("from"):
            start = parse_moment(params["from"], "from")
        elif granularity == "month":
            start = selectors.months_before(end, 11)  # twelve months with the current one
        else:
            start = end - DEFAULT_SPAN[granularity]
        window = selectors.usage_window(start, end, granularity, now=now)
        rows = selectors.site_usage(site, window)
        if self.wants_csv:
            data = [{"site": site.domain, **row, "start": _iso(row["start"]), "end": _iso(row["end"])} for row in rows]
            return self.csv(
                data,
                ["site", "start", "end", *COUNT_COLUMNS],
                f"usage-{site.domain}-{window.start:%Y%m%d%H}-{window.end:%Y%m%d%H}.csv",
            )
        paginator = self.paginator
        page = paginator.paginate_queryset(rows, request, view=self)
        results = UsageBucketSerializer(page, many=True).data
        totals = CountsSerializer(selectors.totals(rows)).data
        header = {
            "site": site.domain,
            "granularity": granularity,
            "start": _iso(window.start),
            "end": _iso(window.end),
            "totals": totals,
        }
        return Response(paginator.page_answer(results, **header))


class FleetUsageView(UsageMixin, APIView):
    """Every site's usage in one calendar month (UTC): a row per site, by domain, zeros included."""

    operation_noun = "usage"

    @extend_schema(
        summary="Every site's traffic in a calendar month (billing)",
        operation_id="usage_list",
        parameters=[
            OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM (UTC). Default: the current month."),
            FORMAT_PARAMETER,
            OpenApiParameter("page", int, description="Page of sites (JSON)."),
            OpenApiParameter("page_size", int, description="Sites per page, at most 500 (default 50)."),
        ],
        responses={
            (200, "application/json"): FleetUsageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            400: BAD_REQUEST,
        },
    )
    def get(self, request):
        month = selectors.parse_month(request.query_params.get("month"))
        sites = selectors.month_usage_sites()
        if self.wants_csv:
            rows: list[dict[str, Any]] = []
            everyone = list(sites)
            for first in range(0, len(everyone), FLEET_CHUNK):
                rows += selectors.month_usage(everyone[first : first + FLEET_CHUNK], month)
            for row in rows:
                row["month"], row["start"], row["end"] = f"{month:%Y-%m}", _iso(row["start"]), _iso(row["end"])
            return self.csv(
                rows, ["site", "customer_ref", "month", "start", "end", *COUNT_COLUMNS], f"usage-{month:%Y-%m}.csv"
            )
        paginator = self.paginator
        page = paginator.paginate_queryset(sites, request, view=self)
        rows = selectors.month_usage(page, month)
        for row in rows:
            row["month"] = f"{month:%Y-%m}"
        results = SiteMonthUsageSerializer(rows, many=True).data
        return Response(paginator.page_answer(results, month=f"{month:%Y-%m}"))


class SiteQuotaView(ApiMixin, APIView):
    """A site's optional monthly bytes-out quota: read, set (PUT) and remove (DELETE)."""

    operation_noun = "site_quota"
    path_examples = {"domain": "linux.co.uk"}
    api_area = permissions.AREA_SITES

    def answer(self, site: Site, quota: SiteQuota) -> Response:
        now = timezone.now()
        month = selectors.month_start(now).date()
        used = selectors.month_bytes_out([site.pk], month).get(site.pk, 0)
        events = [
            {"kind": e.kind, "at": _iso(e.at), "bytes_out": e.bytes_out}
            for e in QuotaEvent.objects.filter(site=site, month=month).order_by("at", "pk")
        ]
        return Response(
            {
                "site": site.domain,
                "monthly_bytes_out": quota.monthly_bytes_out,
                "policy": quota.policy,
                "month": f"{month:%Y-%m}",
                "bytes_out": used,
                "events": events,
            }
        )

    @extend_schema(summary="A site's monthly traffic quota (404: none)", responses={200: SiteQuotaSerializer})
    def get(self, request, domain: str):
        site = site_for(domain)
        quota = get_object_or_404(SiteQuota, site=site)
        return self.answer(site, quota)

    @extend_schema(
        summary="Set a site's monthly traffic quota",
        request=SiteQuotaSerializer,
        responses={200: SiteQuotaSerializer},
    )
    def put(self, request, domain: str):
        site = site_for(domain)
        serializer = SiteQuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quota = services.site_quota_set(site, actor=self.actor, **serializer.validated_data)
        assert quota is not None
        return self.answer(site, quota)

    @extend_schema(summary="Remove a site's monthly traffic quota", responses={200: DeletedSerializer})
    def delete(self, request, domain: str):
        site = site_for(domain)
        get_object_or_404(SiteQuota, site=site)
        services.site_quota_set(site, actor=self.actor, monthly_bytes_out=None)
        return self.deleted(site.domain, None)
