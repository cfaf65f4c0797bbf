"""Dashboard helpers: inline SVG sparklines, human byte counts, dict lookups."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def sparkline(values: list[int], label: str = "", width: int = 120, height: int = 22) -> str:
    """An inline SVG polyline of the values (no script, no external asset)."""
    values = list(values or [])
    if len(values) < 2:
        values = [0, 0]
    top = max(values) or 1
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))
    total = sum(values)
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}: {} in the last hour">'
        "<title>{}: {} in the last hour (peak {} per sample)</title>"
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        label,
        total,
        label,
        total,
        top if max(values) else 0,
        points,
    )


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def badge_class(state: str) -> str:
    return "status-" + str(state or "unknown").replace(" ", "-")
