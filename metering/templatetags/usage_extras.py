"""Traffic on the staff pages: human byte counts (the exact count in a title) and an inline SVG bar chart with
a labelled scale (no script, no external asset, like the dashboard's sparklines)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from metering.units import human_bytes, human_count

register = template.Library()

WIDTH, HEIGHT = 640, 150
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 22  # room for the scale and the time labels


@register.filter
def bytes_human(value: int | None) -> SafeString:
    """<span title="1234567 bytes">1.2 MB</span>"""
    return format_html('<span title="{} bytes">{}</span>', f"{int(value or 0):,}", human_bytes(value))


@register.filter
def count_human(value: int | None) -> SafeString:
    return format_html('<span title="{}">{}</span>', f"{int(value or 0):,}", human_count(value))


@register.filter
def percent(value: float | None) -> str:
    return f"{(value or 0) * 100:.2f} %"


TIME_LABELS = {"hour": "%d %H:00", "day": "%b %d", "month": "%Y-%m"}


def _label(moment, granularity: str) -> str:
    return moment.strftime(TIME_LABELS[granularity])


METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], float], Callable[[float], str]]] = {
    "requests": ("Requests", lambda r: r["requests"], lambda v: human_count(int(v))),
    "bytes_out": ("Bytes out", lambda r: r["bytes_out"], lambda v: human_bytes(int(v))),
    "share_5xx": (
        "5xx share",
        lambda r: (r["status_5xx"] / r["requests"]) if r["requests"] else 0.0,
        lambda v: f"{v * 100:.1f} %",
    ),
}


def _exact(metric: str, row: dict[str, Any]) -> str:
    if metric == "share_5xx":
        return f"{row['status_5xx']:,} of {row['requests']:,} requests answered 5xx"
    return f"{row[metric]:,}" + (" bytes" if metric == "bytes_out" else " requests")


@register.simple_tag
def usage_chart(rows: Sequence[dict[str, Any]], metric: str, granularity: str) -> SafeString:
    """A bar per bucket, the scale (0, half, top) on the left, the first, middle and last times below; every
    bar's title gives its time and exact value."""
    title, value_of, human = METRICS[metric]
    values = [value_of(r) for r in rows]
    top = max(values, default=0) or (1.0 if metric == "share_5xx" else 1)
    if metric == "share_5xx":
        top = min(1.0, top) if max(values, default=0) else 0.01
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(rows), 1)
    bars = []
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        h = (value / top) * plot_h if top else 0
        bars.append(
            (
                f"{LEFT + index * slot + slot * 0.1:.1f}",
                f"{TOP + plot_h - h:.1f}",
                f"{max(slot * 0.8, 0.5):.1f}",
                f"{h:.1f}",
                f"{row['start']:%Y-%m-%d %H:%M} UTC: {_exact(metric, row)}",
            )
        )
    scale = [
        (f"{LEFT - 4}", f"{TOP + plot_h - plot_h * f + 4:.1f}", human(top * f), f"{TOP + plot_h - plot_h * f:.1f}")
        for f in (0, 0.5, 1)
    ]
    ticks = []
    if rows:
        for index in sorted({0, len(rows) // 2, len(rows) - 1}):
            anchor = "start" if index == 0 else ("end" if index == len(rows) - 1 else "middle")
            x = LEFT + index * slot + (0 if anchor == "start" else slot if anchor == "end" else slot / 2)
            ticks.append((f"{x:.1f}", f"{HEIGHT - 6}", anchor, _label(rows[index]["start"], granularity)))
    return format_html(
        '<svg class="usage-chart" data-metric="{}" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">'
        "<title>{}</title>"
        '<g class="scale" font-size="11" fill="currentColor">{}</g>'
        '<g class="grid" stroke="currentColor" stroke-opacity=".15">{}</g>'
        '<g class="bars" fill="currentColor" fill-opacity=".75">{}</g>'
        '<g class="times" font-size="11" fill="currentColor">{}</g></svg>',
        metric,
        WIDTH,
        HEIGHT,
        f"{title}, scale 0 to {human(top)}",
        f"{title} per {granularity} (UTC); the scale goes from 0 to {human(top)}",
        format_html_join("", '<text x="{}" y="{}" text-anchor="end">{}</text>', ((a, b, c) for a, b, c, _ in scale)),
        format_html_join(
            "", '<line x1="{}" x2="{}" y1="{}" y2="{}"/>', ((LEFT, WIDTH - RIGHT, y, y) for *_, y in scale)
        ),
        format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>', bars)
        if bars
        else mark_safe(""),  # noqa: S308 - a constant
        format_html_join("", '<text x="{}" y="{}" text-anchor="{}">{}</text>', ticks),
    )
