"""Staff pages of traffic usage: the top sites of a month (bytes out or requests). The site page's traffic
card is metering.selectors.site_traffic, shown by sites.views.SiteDetailView."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.views.generic import TemplateView

from hostpanel.permissions import PanelAccessMixin
from metering import selectors

PAGE_SIZE = 50
ORDERS = {"bytes_out": "Bytes out", "requests": "Requests"}


class TopSitesView(PanelAccessMixin, TemplateView):
    """Every site with traffic in a calendar month, largest first; any staff user may look."""

    template_name = "metering/top_sites.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        error = ""
        try:
            month = selectors.parse_month(self.request.GET.get("month"))
        except ValidationError as exc:
            error = " ".join(exc.messages)
            month = selectors.parse_month(None)
        order = self.request.GET.get("order") if self.request.GET.get("order") in ORDERS else "bytes_out"
        start, end = selectors.month_range(month)
        ranked = selectors.top_sites(start, end, order=order)
        page = Paginator(ranked, PAGE_SIZE).get_page(self.request.GET.get("page"))
        fleet = selectors.totals(t.counts for t in ranked)
        context.update(
            month=month,
            month_value=f"{month:%Y-%m}",
            error=error,
            order=order,
            orders=ORDERS,
            page=page,
            first_rank=(page.number - 1) * PAGE_SIZE,
            fleet=fleet,
            site_count=len(ranked),
        )
        return context
