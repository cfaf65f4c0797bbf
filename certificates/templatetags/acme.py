"""Template helpers of the certificate card: whether the panel can order ACME certificates at all."""

from __future__ import annotations

from django import template
from django.conf import settings

from certificates import selectors

register = template.Library()


@register.simple_tag
def acme_unavailable() -> str:
    """Why no ACME certificate can be ordered ("" when one can): certificates.selectors.acme_unavailable."""
    return selectors.acme_unavailable()


@register.simple_tag
def acme_scan_seconds() -> int:
    return settings.HOSTPANEL_ACME_SCAN_SECONDS
