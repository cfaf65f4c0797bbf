"""Usage rows made directly (the reading half's tests do not need the collection): one hour or one day of
a site's traffic, and a handful of client sites."""

from __future__ import annotations

import datetime

from metering.models import UsageDay, UsageHour
from sites.models import Site
from tests.factories import add_generated_sites

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    """'2026-11-03 14' or '2026-11-03 14:30' -> an aware UTC datetime."""
    fmt = "%Y-%m-%d %H" if len(text) == 13 else "%Y-%m-%d %H:%M"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=UTC)


def usage_hour(site: Site, hour: datetime.datetime, requests: int = 10, bytes_out: int = 1000, **more) -> UsageHour:
    fields = {"bytes_in": requests * 100, "status_2xx": requests, **more}
    return UsageHour.objects.create(site=site, hour=hour, requests=requests, bytes_out=bytes_out, **fields)


def usage_day(site: Site, day: datetime.date, requests: int = 10, bytes_out: int = 1000, **more) -> UsageDay:
    fields = {"bytes_in": requests * 100, "status_2xx": requests, **more}
    return UsageDay.objects.create(site=site, day=day, requests=requests, bytes_out=bytes_out, **fields)


def client_sites(count: int) -> list[Site]:
    add_generated_sites(count, aliases_every=10**6)
    return list(Site.objects.filter(domain__startswith="client").order_by("domain"))
