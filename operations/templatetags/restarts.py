"""Template helpers of the restart button: why a rolling restart cannot start (operations.selectors)."""

from __future__ import annotations

from django import template

from operations.selectors import restart_refusals as refusals

register = template.Library()


@register.simple_tag
def restart_refusals(balancer) -> str:
    """Every reason a rolling restart of the balancer cannot start, in one sentence each; "" when it can."""
    return " ".join(refusals(balancer))
