"""Serializers of traffic usage (read only) and of a site's quota. They translate: metering.selectors reads
and checks ranges, metering.services validates and writes."""

from __future__ import annotations

import datetime

from rest_framework import serializers

from metering.models import QuotaPolicy


class UtcDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC (`2026-11-01T00:00:00Z`), whatever the panel's TIME_ZONE."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("default_timezone", datetime.UTC)
        super().__init__(**kwargs)


class CountsSerializer(serializers.Serializer):
    requests = serializers.IntegerField(help_text="Requests (HTTP and HTTPS).")
    bytes_in = serializers.IntegerField(help_text="Bytes received from clients, headers included.")
    bytes_out = serializers.IntegerField(help_text="Bytes sent to clients, headers included (what quotas count).")
    status_2xx = serializers.IntegerField()
    status_3xx = serializers.IntegerField()
    status_4xx = serializers.IntegerField()
    status_5xx = serializers.IntegerField()


class UsageBucketSerializer(CountsSerializer):
    start = UtcDateTimeField(help_text="Start of the bucket (UTC, inclusive).")
    end = UtcDateTimeField(help_text="End of the bucket (UTC, exclusive).")


class SiteUsageSerializer(serializers.Serializer):
    """One page of a site's usage series, with the totals of the whole range."""

    site = serializers.CharField()
    granularity = serializers.ChoiceField(choices=["hour", "day", "month"])
    start = UtcDateTimeField(help_text="The range's start, on a bucket boundary (UTC).")
    end = UtcDateTimeField(help_text="The range's end (exclusive), on a bucket boundary.")
    totals = CountsSerializer(help_text="Sums over the whole range (every page).")
    count = serializers.IntegerField(help_text="Buckets in the range (zeros included).")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UsageBucketSerializer(many=True)

    class Meta:
        ref_name = "SiteUsage"


class SiteMonthUsageSerializer(CountsSerializer):
    site = serializers.CharField(help_text="The site's domain.")
    customer_ref = serializers.CharField(help_text="The billing system's id for the site's client.")
    month = serializers.CharField(help_text="YYYY-MM")
    start = UtcDateTimeField(help_text="First instant of the month (UTC).")
    end = UtcDateTimeField(help_text="First instant of the next month (UTC).")


class FleetUsageSerializer(serializers.Serializer):
    """One page of every site's usage in a calendar month (sites by domain; zeros for sites without traffic)."""

    month = serializers.CharField(help_text="YYYY-MM")
    count = serializers.IntegerField(help_text="Sites in the report.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SiteMonthUsageSerializer(many=True)

    class Meta:
        ref_name = "FleetUsage"


class SiteQuotaSerializer(serializers.Serializer):
    site = serializers.CharField(read_only=True)
    monthly_bytes_out = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="Bytes out allowed per calendar month (UTC), e.g. 500000000000."
    )
    policy = serializers.ChoiceField(
        choices=QuotaPolicy.choices,
        default=QuotaPolicy.NOTIFY,
        help_text="notify: notices at 80 % and 100 %; suspend: a notice at 80 %, suspended at 100 %, "
        "unsuspended at the next month.",
    )
    month = serializers.CharField(read_only=True, help_text="The current month, YYYY-MM (UTC).")
    bytes_out = serializers.IntegerField(read_only=True, help_text="Bytes out so far this month.")
    events = serializers.ListField(
        child=serializers.DictField(), read_only=True, help_text="What the quota did this month: kind and time."
    )

    class Meta:
        ref_name = "SiteQuota"
