"""apache2 -t on rendered trees: the demo data plus 300 generated sites, in both modes."""

import dataclasses

import pytest

from balancers import services as balancer_services
from balancers.models import BalancerMember
from devrig import apache
from rendering.render import render_tree
from rendering.routes import map_entries, parse_map
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import add_generated_sites, set_render_mode
from tests.realparts import require_binary

pytestmark = pytest.mark.real


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_apache_accepts_the_demo_plus_300_sites(demo, frontend, actor, mode):
    require_binary("apache2")
    add_generated_sites(300)
    set_render_mode(mode, actor)
    # Some of every state the templates know: suspended sites, drained/disabled members, limits.
    for site in Site.objects.filter(domain__endswith="7.example")[:10]:
        site_services.site_suspend(site, actor=actor, reason="test")
    member = BalancerMember.objects.filter(zope_server__name="zope2").first()
    balancer_services.member_update(member, actor=actor, drain=True, min=1, max=6, smax=4)
    snapshot = load_snapshot()
    assert len(snapshot.sites) == 301
    record = FrontEndRecord.from_model(frontend)

    result = apache.check_rendered(
        lambda config_dir: render_tree(snapshot, dataclasses.replace(record, config_dir=config_dir)),
        listen=(record.http_listen,),
    )
    assert result.ok, result.output
    assert result.output.endswith("Syntax OK")
    assert "AH01150" not in result.output  # no worker sharing between members
    tree = render_tree(snapshot, record)
    # every site is in routes.map, one line per host name, grouped by site; no site has a vhost of its own
    entries = map_entries(tree["routes.map"])
    names = {name: site for site in snapshot.sites for name in (site.domain, *site.aliases)}
    assert len(names) > 301 and sorted(entries) == sorted(names)
    assert len(parse_map(tree["routes.map"])) == 301
    suspended = {name for name, value in entries.items() if value.startswith("suspended|")}
    assert suspended == {name for name, site in names.items() if site.status == "suspended"} and suspended
    assert not [path for path in tree if path.startswith("sites/")]


def test_apache_rejects_a_tree_that_is_not_a_config(tmp_path):
    require_binary("apache2")
    result = apache.check_rendered(lambda config_dir: {"hostpanel.conf": "<VirtualHost *:80>\n"})
    assert not result.ok
    assert "VirtualHost" in result.output
