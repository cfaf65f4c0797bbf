"""A site change with thousands of HTTPS sites renders only what changed: each HTTPS vhost is rendered once per
front-end shape and kept while its site is unchanged (rendering.cache.SITE_VHOSTS), so adding an HTTP site
leaves every sites/*.conf text as it was (the very same text, not rendered again), and a change of one HTTPS
site renders that site's vhost alone; the snapshot reads one changed site with the same number of queries
whatever the number of HTTPS sites."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from devrig.fleet import add_https_sites
from rendering import cache
from rendering.render import render_tree, render_tree_isolated
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import ACTOR

FE1 = FrontEndRecord(name="fe1", config_dir="/etc/apache2/hostpanel")
FE2 = FrontEndRecord(name="fe2", config_dir="/srv/fe2/hostpanel", https_listen="*:8443")


def _vhosts(tree: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in tree.items() if path.startswith("sites/")}


def test_an_http_site_added_renders_no_https_vhost_again_on_any_front_end(demo, test_pki, secrets_key):
    add_https_sites(40, demo, test_pki.intermediate)
    before = {fe.name: render_tree_isolated(load_snapshot(), fe).tree for fe in (FE1, FE2)}
    site_services.site_create(actor=ACTOR, domain="plain.example", balancer=demo, plone_path="/plone/plain")
    snapshot = load_snapshot()
    assert snapshot.delta is not None  # patched, as a deployment's snapshot is
    for fe in (FE1, FE2):
        after = render_tree_isolated(snapshot, fe).tree
        old, new = _vhosts(before[fe.name]), _vhosts(after)
        assert len(new) == 40 and set(new) == set(old)
        assert all(new[path] is old[path] for path in new)  # kept, not rendered again
        assert all(fe.config_dir in text for text in new.values())  # each front-end's own paths
        assert "plain.example" in after["routes.map"] + after["routes-recent.map"]
        assert after == render_tree(snapshot, fe)  # what a whole render gives


def test_one_https_site_changed_renders_that_vhost_alone(demo, test_pki, secrets_key):
    domains = add_https_sites(20, demo, test_pki.intermediate)
    before = _vhosts(render_tree_isolated(load_snapshot(), FE1).tree)
    site_services.site_update(Site.objects.get(domain=domains[3]), actor=ACTOR, hsts_seconds=300)
    after = _vhosts(render_tree_isolated(load_snapshot(), FE1).tree)
    changed = {path for path in after if after[path] is not before[path]}
    assert changed == {f"sites/{domains[3]}.conf"}
    assert 'Strict-Transport-Security "max-age=300"' in after[f"sites/{domains[3]}.conf"]


def test_the_vhost_memo_keeps_only_the_current_sites(demo, test_pki, secrets_key):
    domains = add_https_sites(5, demo, test_pki.intermediate)
    render_tree_isolated(load_snapshot(), FE1)
    Site.objects.get(domain=domains[0]).delete()
    render_tree_isolated(load_snapshot(), FE1)
    (kept,) = [v for k, v in cache.SITE_VHOSTS.entries().items() if k[0] == FE1.config_dir]
    assert sorted(context.domain for context, _ in kept.values()) == domains[1:]


def _queries_for_one_more_site(demo, count: int, start: int, test_pki) -> int:
    add_https_sites(count, demo, test_pki.intermediate, start=start)
    render_tree_isolated(load_snapshot(), FE1)
    site_services.site_create(actor=ACTOR, domain=f"plain{start}.example", balancer=demo, plone_path="/plone/p")
    with CaptureQueriesContext(connection) as queries:
        render_tree_isolated(load_snapshot(), FE1)
    return len(queries.captured_queries)


def test_one_more_site_is_read_with_as_many_queries_at_ten_times_the_https_sites(
    demo, test_pki, secrets_key, django_assert_max_num_queries
):
    few = _queries_for_one_more_site(demo, 10, 0, test_pki)
    add_https_sites(90, demo, test_pki.intermediate, start=10)
    render_tree_isolated(load_snapshot(), FE1)
    site_services.site_create(actor=ACTOR, domain="plain-many.example", balancer=demo, plone_path="/plone/p")
    with django_assert_max_num_queries(few):
        render_tree_isolated(load_snapshot(), FE1)
