"""Template helpers of the staff panel: navigation entries, the change-permission test, host names."""

from __future__ import annotations

import datetime
import re
import unicodedata

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

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


def _as_datetime(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] in "T ":
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def relative(moment: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """ "12 s ago", "5 min ago", "3 h ago", "2 days ago"; "in 4 min" for a moment to come."""
    now = now or timezone.now()
    seconds = (now - moment).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400 * 2:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} days"
    return f"in {text}" if ahead else f"{text} ago"


@register.simple_tag
def when(value, empty: str = "—"):
    """A moment as people read it: relative ("5 min ago"), the exact local time in its title, and a
    machine-readable <time datetime>. Takes a datetime or an ISO 8601 string."""
    moment = _as_datetime(value)
    if moment is None:
        return empty
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    exact = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact, relative(moment))


@register.filter
def exact_time(value) -> str:
    """A moment as local wall-clock time to the second (no microseconds, no ISO 'T')."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


# Audit views never show a secret, not even that it is redacted under its field name
SECRET_MARKERS = ("private_key", "password", "secret", "token_hash", "key_encrypted")
# Field names in words (the rest: underscores to spaces)
FIELD_LABELS = {
    "tls": "HTTPS",
    "https_redirect": "redirect HTTP to HTTPS",
    "hsts_seconds": "HSTS max-age (s)",
    "plone_path": "Plone path",
    "customer_ref": "customer reference",
    "manage_access": "management interface",
    "lbset": "member set (lbset)",
    "loadfactor": "load factor",
    "hot_standby": "hot standby",
    "lbmethod": "balancing method",
    "sticky_cookie": "sticky cookie",
    "not_after": "valid until",
    "not_before": "valid from",
    "updated_at": "updated",
    "created_at": "created",
    "render_error": "left out because",
    "edit_host": "edit host",
    "passthrough_paths": "pass-through paths",
    "blocked_methods": "blocked methods",
    "zope_server": "Zope server",
    "ssh_host_key": "SSH host key",
    "balancer_manager_url": "balancer-manager URL",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " "))


def is_secret(name: str) -> bool:
    return any(marker in name for marker in SECRET_MARKERS)


def audit_value(value) -> str:
    """One audit value in words: empty for None/""/[], yes/no, times to the second, lists joined, long
    values cut."""
    if value is None or value == "" or value == [] or value == {}:
        return "(empty)"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    moment = _as_datetime(value)
    if moment is not None:
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(moment) else str(moment)
    if isinstance(value, list | tuple):
        text = ", ".join(audit_value(v) for v in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{field_label(str(k))}: {audit_value(v)}" for k, v in value.items() if not is_secret(str(k)))
    else:
        text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


OBJECT_LABELS = {
    "zopeserver": "Zope server",
    "balancermember": "member",
    "frontend": "front-end",
    "apache_config": "Apache config",
    "apitoken": "API token",
}


@register.filter
def object_label(object_type: str) -> str:
    return OBJECT_LABELS.get(object_type, object_type.replace("_", " "))


@register.filter
def audit_changes(entry) -> list[tuple[str, str, str]]:
    """The fields an audit entry changed, in words: (label, before, after); every field for a create or
    delete. Secret fields are left out entirely; bookkeeping fields (timestamps) of an update too."""
    before = entry.before or {}
    after = entry.after or {}
    names = sorted(set(before) | set(after))
    changed = [n for n in names if before.get(n) != after.get(n) and not is_secret(n)]
    if entry.before and entry.after:  # an update: "updated" moves with every save, it says nothing
        changed = [n for n in changed if n not in ("updated_at",)] or changed
    else:  # a create or delete: the fields that hold something
        values = entry.after or entry.before
        changed = [n for n in changed if values.get(n) not in (None, "", [], {})]
    return [(field_label(n), audit_value(before.get(n)), audit_value(after.get(n))) for n in changed]


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


_DEPLOYMENT_NOTE = re.compile(r"Deployment #(\d+) \((\w+)\)")


@register.filter
def deployment_links(message) -> str:
    """A flash message with each "Deployment #n (status)" (hostpanel.web.deployment_note) turned into a
    link to the deployment whose status keeps updating while it runs (hostpanel.js polls its badge)."""
    text = str(conditional_escape(message))

    def link(match: re.Match[str]) -> str:
        pk, status = match.group(1), match.group(2)
        url, badge = reverse("balancers:deployment_detail", args=[pk]), reverse("balancers:deployment_badge", args=[pk])
        finished = "false" if status in ("queued", "running") else "true"
        return (
            f'<a class="deployment-badge" href="{url}" data-deployment="{pk}" data-poll-url="{badge}" '
            f'data-poll-interval="2000" data-finished="{finished}">Deployment #{pk} '
            f'(<span class="status status-{status}" data-status="{status}">{status}</span>)</a>'
        )

    return mark_safe(_DEPLOYMENT_NOTE.sub(link, text))  # noqa: S308 - escaped above; the link's parts are digits and a word
