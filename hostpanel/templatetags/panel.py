"""Template helpers of the staff panel: navigation entries and the change-permission test."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from hostpanel import permissions

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_item(context, label: str, *url_names: str):
    """One navigation entry: the first URL name that exists; aria-current on the current section."""
    url = None
    for name in url_names:
        try:
            url = reverse(name)
            break
        except NoReverseMatch:
            continue
    if url is None:
        return ""
    request = context.get("request")
    path = request.path if request is not None else ""
    current = path == url if url == "/" else path.startswith(url)
    if current:
        return format_html('<li><a href="{}" aria-current="page">{}</a></li>', url, label)
    return format_html('<li><a href="{}">{}</a></li>', url, label)


@register.filter
def user_can_change(user) -> bool:
    return permissions.can_change(user)


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (sorting, paging links)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return "?" + encoded if encoded else "?"
