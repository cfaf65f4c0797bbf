"""Reads of Zope servers, front-ends and balancers shared by pages, the API and commands."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db.models import Count

from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, FrontEnd
from sites.models import Site


def frontends_named(names: Sequence[str]) -> list[FrontEnd]:
    """The front-ends with these names, in the order given (duplicates once). Unknown names raise a
    ValidationError on `frontends` naming each (the API answers 400, the deploy command exits)."""
    unique = list(dict.fromkeys(names))
    found = {f.name: f for f in FrontEnd.objects.filter(name__in=unique)}
    unknown = [n for n in unique if n not in found]
    if unknown:
        raise ValidationError({"frontends": [f"There is no front-end named {n!r}." for n in unknown[:10]]})
    return [found[n] for n in unique]


def enabled_frontends() -> list[FrontEnd]:
    return list(FrontEnd.objects.filter(enabled=True).order_by("name"))


def balancers_with_counts() -> list[Balancer]:
    """Every balancer with `member_count` and `site_count` (three queries whatever the numbers); a frontend
    balancer counts the sites that use it as their frontend balancer."""
    balancers = list(Balancer.objects.annotate(member_count=Count("members")).order_by("name"))
    site_counts = dict(Site.objects.values_list("balancer").annotate(n=Count("id")).values_list("balancer", "n"))
    frontend_counts = dict(
        Site.objects.filter(frontend_balancer__isnull=False)
        .values_list("frontend_balancer")
        .annotate(n=Count("id"))
        .values_list("frontend_balancer", "n")
    )
    for balancer in balancers:
        counts = frontend_counts if balancer.kind == ServerKind.NODE else site_counts
        balancer.site_count = counts.get(balancer.pk, 0)
    return balancers


def balancer_members(balancer: Balancer) -> list[BalancerMember]:
    members = list(
        BalancerMember.objects.filter(balancer=balancer)
        .select_related("zope_server")
        .order_by("lbset", "zope_server__name")
    )
    for member in members:
        member.balancer = balancer  # no query per member for str()/urls
    return members


def balancer_site_counts(balancer: Balancer) -> dict[str, int]:
    """{"total": n, "suspended": n} of the sites using a balancer (one query): as their Zope balancer, or
    as their frontend balancer for a Node.js frontend balancer."""
    using = {"frontend_balancer": balancer} if balancer.kind == ServerKind.NODE else {"balancer": balancer}
    by_status = dict(
        Site.objects.filter(**using).values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {"total": sum(by_status.values()), "suspended": by_status.get("suspended", 0)}
