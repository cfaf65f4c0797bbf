"""The incremental snapshot (rendering.journal, fed by the database triggers of the change journal)
and the patched site part of the renderer (rendering.sites) give exactly what a full read and a
whole render give, whatever the changes (through the services, `QuerySet.update`, raw SQL, deletes,
aliases moving between sites, domains passing from one site to another), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import random

import pytest
from django.db import connection

from balancers.models import Balancer
from deploy.stored import routes_base_set
from rendering import cache
from rendering.render import render_tree_isolated
from rendering.routes import ROUTES_MAP, map_entries, whole_map
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site, SiteAlias, SiteChange, SiteStatus
from tests.factories import ACTOR, add_generated_sites

FRONTEND = FrontEndRecord(name="fe1", config_dir="/etc/apache2/hostpanel")


def fresh():
    """A full read and a whole render, with this process's caches put back afterwards."""
    saved = {memo: memo.copy() for memo in (cache.SITE_CACHE, cache.SITE_PARTS, cache.CONTEXTS, cache.SITE_VHOSTS)}
    cache.SITE_CACHE.clear()
    cache.SITE_PARTS.clear()
    cache.SITE_VHOSTS.clear()  # every HTTPS vhost rendered again
    try:
        snapshot = load_snapshot()
        assert snapshot.delta is None
        return snapshot, render_tree_isolated(snapshot, FRONTEND).tree
    finally:
        for memo, entries in saved.items():
            memo.replace(entries)


def change(rng: random.Random, step: int) -> None:
    sites = list(Site.objects.order_by("id"))
    site = rng.choice(sites)
    what = rng.randrange(8)
    if what == 0:
        site_services.site_create(actor=ACTOR, domain=f"new{step}.example", balancer="bronze", plone_path="/plone/n")
    elif what == 1:  # past the models: only the trigger sees it
        Site.objects.filter(pk=site.pk).update(plone_path=f"/plone/updated{step}")
    elif what == 2:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE sites_site SET status = %s WHERE id = %s", [SiteStatus.SUSPENDED, site.pk])
    elif what == 3 and len(sites) > 3:
        site.delete()
    elif what == 4:
        SiteAlias.objects.create(site=site, name=f"alias{step}.example")
    elif what == 5 and (alias := SiteAlias.objects.order_by("?").first()) is not None:
        alias.site = site  # an alias passes to another site
        alias.save()
    elif what == 6 and len(sites) > 3:  # a domain passes from a deleted site to another one
        gone = rng.choice([s for s in sites if s.pk != site.pk])
        domain = gone.domain
        gone.delete()
        Site.objects.filter(pk=site.pk).update(domain=domain)
    else:
        Site.objects.filter(pk=site.pk).update(status=SiteStatus.ACTIVE, balancer=Balancer.objects.get(name="silver"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_snapshots_and_patched_renders_equal_full_ones(demo, settings, seed):
    settings.HOSTPANEL_ROUTES_OVERLAY_MAX_LINES = 6  # some steps make a new base
    add_generated_sites(30)
    cache.clear()
    first = load_snapshot()
    routes_base_set(render_tree_isolated(first, FRONTEND).tree[ROUTES_MAP])
    rng = random.Random(seed)
    incremental = patched = 0
    for step in range(40):
        change(rng, step)
        snapshot = load_snapshot()
        tree = render_tree_isolated(snapshot, FRONTEND).tree
        incremental += snapshot.delta is not None
        patched += cache.SITE_PARTS.only().snapshot is snapshot and snapshot.delta is not None
        full_snapshot, full_tree = fresh()
        assert snapshot.sites == full_snapshot.sites, step
        assert tree == full_tree, step
        if rng.random() < 0.3:  # a deployment records the base it made; a render with no change follows
            routes_base_set(tree[ROUTES_MAP])
            again = render_tree_isolated(load_snapshot(), FRONTEND).tree
            assert again == fresh()[1], step
    assert incremental >= 35 and patched >= 20  # the paths under test were taken


def test_one_changed_site_is_read_with_a_constant_number_of_queries(demo, django_assert_max_num_queries):
    add_generated_sites(20)
    cache.clear()
    load_snapshot()
    counts = []
    for n in (1, 2):
        add_generated_sites(200 * n)  # a burst: read whole again
        load_snapshot()
        site_services.site_create(actor=ACTOR, domain=f"one{n}.example", balancer="bronze", plone_path="/plone/o")
        with django_assert_max_num_queries(20) as queries:
            snapshot = load_snapshot()
        assert snapshot.delta is not None and snapshot.delta[1] == {f"one{n}.example"}
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_a_rolled_back_journal_position_is_never_trusted(demo):
    """A cache whose last journal row is gone (a rollback, a flush) or was reused reads everything."""
    cache.clear()
    load_snapshot()
    held = cache.SITE_CACHE.only()
    last = SiteChange.objects.get(pk=held.last[0])
    SiteChange.objects.filter(pk=last.pk).update(token=last.token + 1)  # as if another row took its id
    assert load_snapshot().delta is None
    site_services.site_create(actor=ACTOR, domain="after.example", balancer="bronze", plone_path="/plone/a")
    assert load_snapshot().delta == (cache.SITE_CACHE.only().generation - 1, frozenset({"after.example"}))


def test_a_snapshot_rebuilt_with_replace_is_rendered_whole_not_patched(demo):
    """dataclasses.replace keeps a snapshot's generation and delta but not its sites (the benchmarks do it)."""
    cache.clear()
    routes_base_set(render_tree_isolated(load_snapshot(), FRONTEND).tree[ROUTES_MAP])
    render_tree_isolated(load_snapshot(), FRONTEND)  # the part later snapshots are patched from
    site_services.site_create(actor=ACTOR, domain="later.example", balancer="bronze", plone_path="/plone/l")
    snapshot = load_snapshot()
    assert snapshot.delta is not None
    sites = tuple(
        dataclasses.replace(s, plone_path="/plone/other") if s.domain == "linux.co.uk" else s for s in snapshot.sites
    )
    tree = render_tree_isolated(dataclasses.replace(snapshot, sites=sites), FRONTEND).tree
    assert map_entries(whole_map(tree))["linux.co.uk"].split("|")[2] == "/plone/other"
