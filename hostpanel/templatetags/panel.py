"""Template helpers of the staff panel: navigation entries, the change-permission test, host names."""

from __future__ import annotations

import unicodedata

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

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


@register.filter
def audit_changes(entry) -> list[tuple[str, object, object]]:
    """The fields an audit entry changed: (name, before, after); every field for a create/delete."""
    before = entry.before or {}
    after = entry.after or {}
    names = sorted(set(before) | set(after))
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


@register.filter
def result_items(result) -> list[dict]:
    """Normalise step / per-front-end results of other modules (dicts, dataclasses, tuples or
    objects) to dicts with name, ok and detail, for display."""
    if result is None:
        return []
    if isinstance(result, dict) and not {"ok", "name"} & set(result):
        result = [{"name": k, **(v if isinstance(v, dict) else {"detail": v})} for k, v in result.items()]
    if not isinstance(result, list | tuple):
        result = [result]
    items = []
    for item in result:
        if isinstance(item, dict):
            get = item.get
        elif isinstance(item, tuple):
            item = dict(zip(("name", "ok", "detail"), item, strict=False))
            get = item.get
        else:

            def get(key, default=None, _item=item):
                return getattr(_item, key, default)

        name = get("name") or get("step") or get("frontend") or get("frontend_name") or ""
        ok = get("ok")
        for alias in ("success", "applied"):
            if ok is None:
                ok = get(alias)
        detail = get("detail") or get("message") or get("reason") or get("error") or get("output") or ""
        live = get("live_status")
        if live:
            detail = f"{detail} (live status: {live})".strip()
        items.append({"name": str(name), "ok": ok, "detail": str(detail)})
    return items


def unicode_hostname(name: str) -> str:
    """The Unicode form of a punycode host name (xn--bcher-shop-9db.example -> bücher-shop.example); the name
    itself when it has no xn-- label or does not decode cleanly (or decodes to invisible/control characters)."""
    name = str(name or "")
    if "xn--" not in name.lower():
        return name
    try:
        decoded = name.lower().encode("ascii").decode("idna")
    except UnicodeError:
        return name
    if any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Zs"} for char in decoded):
        return name
    return decoded


@register.filter
def hostname(name) -> str:
    """A host name for display: `xn--bcher-shop-9db.example (bücher-shop.example)` for an internationalised
    name, so the Unicode form is readable and the ASCII form (what DNS and Apache see) stays visible."""
    name = str(name or "")
    shown = unicode_hostname(name)
    return name if shown == name else f"{name} ({shown})"


@register.filter
def hostnames(names) -> str:
    """A list of host names for display, comma-separated (see `hostname`)."""
    return ", ".join(hostname(name) for name in names or ())
