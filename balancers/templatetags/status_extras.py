"""Dashboard helpers: inline SVG sparklines, human byte counts, dict lookups."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join

from balancers import choices
from balancers.selectors.summary import member_health

register = template.Library()


@register.simple_tag
def sparkline(values: list[int], label: str = "", width: int = 120, height: int = 22, minutes: int = 60) -> str:
    """An inline SVG polyline of the values (no script, no external asset) with its scale beside it: the
    peak per sample at the top, 0 at the bottom, and the hour's total."""
    values = list(values or [])
    if len(values) < 2:
        values = [0, 0]
    top = max(values) or 1
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))
    total = sum(values)
    peak = max(values)
    per = f"{minutes * 60 // len(values)} s" if len(values) else "sample"
    shown_peak, shown_total = (filesizeformat(peak), filesizeformat(total)) if label == "bytes" else (peak, total)
    return format_html(
        '<span class="spark-wrap"><svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}: {} in the last hour">'
        "<title>{}: {} in the last hour (peak {} per {}); left: {} min ago, right: now</title>"
        '<line x1="0" y1="{}" x2="{}" y2="{}" class="spark-base" stroke="currentColor" stroke-opacity=".25"/>'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>'
        '<span class="spark-scale small muted">peak {} / {} · {} {} in 1 h</span></span>',
        width,
        height,
        width,
        height,
        label,
        total,
        label,
        shown_total,
        shown_peak,
        per,
        minutes,
        height - 0.5,
        width,
        height - 0.5,
        points,
        shown_peak,
        per,
        shown_total,
        label,
    )


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def health(worker) -> str:
    """Why a live worker takes no visitors, in words (balancers.selectors.summary.member_health)."""
    return member_health(worker)


@register.filter
def down_on(member) -> list[str]:
    """The front-ends on which a member's settings agree with the panel but the member itself is down."""
    if member["intended"]["disabled"]:
        return []
    return [name for name, w in member["live"].items() if member_health(w)]


@register.filter
def badge_class(state: str) -> str:
    return "status-" + str(state or "unknown").replace(" ", "-")


@register.simple_tag
def worker_chart(workers: dict, width: int = 360, height: int = 96) -> str:
    """An inline SVG chart of busy Apache workers over the last hour against the limit (MaxRequestWorkers):
    a labelled scale (0, the limit, the top), a dashed limit line and the busy line (gaps where no sample).
    No script, no external asset; the figures are in its <title> for screen readers too."""
    series = list((workers or {}).get("busy") or [])
    limit = int((workers or {}).get("limit") or 0)
    source = (workers or {}).get("limit_source") or "limit"
    minutes = (workers or {}).get("minutes") or 60
    seen = [v for v in series if v is not None]
    top = max([limit, *seen, 1])
    top = top + max(top // 10, 1)  # room above the limit line
    left, right, upper, lower = 34, 6, 6, 16  # margins: scale labels left, time labels below
    plot_w, plot_h = width - left - right, height - upper - lower
    step = plot_w / max(len(series) - 1, 1)

    def y(value: float) -> str:  # format_html escapes its arguments: numbers go in as text
        return f"{upper + plot_h - (value / top) * plot_h:.1f}"

    segments: list[list[str]] = [[]]
    for i, value in enumerate(series):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{left + i * step:.1f},{y(value)}")
    lines = format_html_join(
        "",
        '<polyline class="busy" fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>',
        ((" ".join(points if len(points) > 1 else points * 2),) for points in segments if points),
    )
    scale = [(0, "0")]
    if limit:
        scale.append((limit, str(limit)))
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="9" text-anchor="end" fill="currentColor">{}</text>',
        ((left - 3, f"{float(y(v)) + 3:.1f}", text) for v, text in scale),
    )
    limit_line = (
        format_html(
            '<line class="limit" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#c0392b" stroke-dasharray="4 3"/>'
            '<text x="{}" y="{}" font-size="9" fill="#c0392b">{} {}</text>',
            left,
            width - right,
            y(limit),
            y(limit),
            left + 2,
            f"{float(y(limit)) - 2:.1f}",
            source,
            limit,
        )
        if limit
        else ""
    )
    peak = max(seen) if seen else 0
    summary = (
        f"Busy workers over the last {minutes} min: peak {peak}"
        + (f" of {source} {limit}" if limit else "")
        + ("" if seen else " (no mod_status sample)")
    )
    return format_html(
        '<svg class="worker-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{s}">'
        "<title>{s}</title>"
        '<line x1="{l}" x2="{l}" y1="{u}" y2="{b}" stroke="currentColor" stroke-opacity=".4"/>'
        '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" stroke="currentColor" stroke-opacity=".4"/>'
        "{labels}{limit_line}{lines}"
        '<text x="{l}" y="{t}" font-size="9" fill="currentColor">-{m} min</text>'
        '<text x="{r}" y="{t}" font-size="9" text-anchor="end" fill="currentColor">now</text></svg>',
        w=width,
        h=height,
        s=summary,
        l=left,
        r=width - right,
        u=upper,
        b=upper + plot_h,
        t=height - 3,
        m=minutes,
        labels=labels,
        limit_line=limit_line,
        lines=lines,
    )


@register.filter
def member_actions(state: str) -> list[dict[str, str]]:
    """The member actions (balancers.choices.MEMBER_ACTIONS) that change a member in this state."""
    return choices.member_actions(state)
