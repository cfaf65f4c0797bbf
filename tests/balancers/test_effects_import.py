"""The effect of applying an import plan, shown before it is confirmed (balancers.selectors.effects.import_effect):
the panel now against the panel with the rows the import would create, each rendered for every enabled
front-end."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import reverse

from balancers.selectors.effects import import_effect
from importer.plan import ImportPlan
from importer.reader import MappingSource
from importer.service import import_apply, import_preview
from sites.models import Site
from tests.samples import tgz

pytestmark = pytest.mark.django_db

GOLD = """\
<Proxy "balancer://gold">
    BalancerMember http://10.0.0.31:8080 route=zope31 loadfactor=1
    ProxySet lbmethod=byrequests
</Proxy>
"""


def site_conf(domain: str, balancer: str) -> str:
    return (
        f"<VirtualHost *:80>\n    ServerName {domain}\n    RewriteEngine On\n"
        f"    RewriteRule ^/(.*) balancer://{balancer}/VirtualHostBase/http/%{{SERVER_NAME}}:80/"
        f"plone/{domain.split('.')[0]}/VirtualHostRoot/$1 [L,P]\n</VirtualHost>\n"
    )


def config_files(*sites: tuple[str, str], balancers: str = GOLD) -> dict[str, bytes]:
    """A hand-written config with these (domain, balancer) sites and the gold balancer."""
    files = {"apache2.conf": b"Listen 80\nIncludeOptional conf-enabled/*.conf\nIncludeOptional sites-enabled/*.conf\n"}
    if balancers:
        files["conf-enabled/balancers.conf"] = balancers.encode()
    for domain, balancer in sites:
        files[f"sites-enabled/{domain}.conf"] = site_conf(domain, balancer).encode()
    return files


def planned(*sites: tuple[str, str], balancers: str = GOLD) -> ImportPlan:
    return import_preview(MappingSource(config_files(*sites, balancers=balancers)))


def test_an_adopted_site_on_a_new_balancer_shows_as_added_with_a_config_change(demo, frontend):
    plan = planned(("adopted.example.org", "gold"))
    assert not plan.blocked and [p.action for p in plan.sites] == ["create"]
    effect = import_effect(plan)
    (change,) = effect.sites
    assert (change.domain, change.change, change.offline) == ("adopted.example.org", "added", False)
    assert change.before == "not served (404)" and "gold" in change.after
    (fe,) = effect.frontends
    assert fe.frontend == frontend.name and not fe.same
    assert fe.kind_text.startswith("config")  # a new balancer: configtest + graceful reload
    assert any(line.startswith("+") and "zope31" in line for line in fe.lines)
    assert effect.offline == [] and not any("MANIFEST" in line for line in fe.lines)


def test_an_adopted_site_on_a_balancer_the_panel_has_is_added_through_the_routing_map(demo, frontend):
    effect = import_effect(planned(("mapped.example.org", "bronze"), balancers=""))
    assert [(s.domain, s.change) for s in effect.sites] == [("mapped.example.org", "added")]
    (fe,) = effect.frontends
    assert fe.kind_text.startswith("routing map only")


def test_a_site_that_exists_elsewhere_is_left_out_and_not_in_the_effect(demo, frontend):
    plan = planned(("linux.co.uk", "gold"), ("adopted.example.org", "gold"))
    assert [s.domain for s in plan.skipped] == ["linux.co.uk"]
    assert [s.domain for s in import_effect(plan).sites] == ["adopted.example.org"]


def test_a_plan_that_moves_an_existing_site_to_another_balancer_shows_it_changed(demo, frontend):
    # the planner leaves such a site out (a conflict: skip-one); a plan row that creates it anyway replaces
    # the panel's record of its domain, and the effect says its routing changes rather than hiding it
    plan = planned(("linux.co.uk", "gold"), ("adopted.example.org", "gold"))
    moved = dataclasses.replace(
        plan.sites[0], candidate=dataclasses.replace(plan.sites[0].candidate, domain="linux.co.uk")
    )
    plan.sites.append(moved)
    changes = {s.domain: s for s in import_effect(plan).sites}
    assert changes["linux.co.uk"].change == "changed"
    assert "bronze" in changes["linux.co.uk"].before and "gold" in changes["linux.co.uk"].after
    assert not changes["linux.co.uk"].offline


def test_importing_what_the_panel_already_has_changes_nothing(demo, frontend, actor):
    plan = planned(("adopted.example.org", "gold"))
    import_apply(plan, actor=actor, accept_warnings=True)
    again = planned(("adopted.example.org", "gold"))
    assert {p.action for p in again.sites} == {"match"}
    effect = import_effect(again)
    assert effect.unchanged and effect.sites == []


@pytest.mark.parametrize("count", [1, 50])
def test_the_effect_takes_a_bounded_number_of_queries_whatever_the_number_of_sites(
    demo, frontend, count, django_assert_max_num_queries
):
    plan = planned(*((f"s{i:03d}.example.org", "gold") for i in range(count)))
    with django_assert_max_num_queries(15):
        effect = import_effect(plan)
    assert len(effect.sites) == count


def test_the_import_confirmation_shows_the_sites_it_adds_and_each_front_end_s_diff_above_its_button(
    operator_client, demo, frontend, settings, tmp_path
):
    settings.VAR_DIR = tmp_path / "var"
    files = config_files(("adopted.example.org", "gold"), ("linux.co.uk", "gold"))
    operator_client.post(reverse("balancers:import_start"), {"archive": tgz(files), "config_root": "/etc/apache2"})
    preview = operator_client.get(reverse("balancers:import_preview"))
    html = preview.content.decode()
    effect = preview.context["effect"]
    assert [(s.domain, s.change) for s in effect.sites] == [("adopted.example.org", "added")]
    assert html.index('data-site="adopted.example.org"') < html.index(reverse("balancers:import_apply"))
    assert 'data-site="linux.co.uk"' not in html  # left out (exists with another balancer): not in the effect
    assert f"{frontend.name}: config: configtest + graceful reload" in html
    done = operator_client.post(
        reverse("balancers:import_apply"),
        {"fingerprint": preview.context["plan"].fingerprint, "accept_warnings": "on"},
        follow=True,
    )
    assert "Imported:" in done.content.decode()
    assert Site.objects.get(domain="adopted.example.org").balancer.name == "gold"


def test_a_blocked_import_shows_no_effect_and_no_button(operator_client, demo, frontend, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    files = config_files(("adopted.example.org", "nowhere"))
    operator_client.post(reverse("balancers:import_start"), {"archive": tgz(files), "config_root": "/etc/apache2"})
    preview = operator_client.get(reverse("balancers:import_preview"))
    assert preview.context["plan"].blocked and preview.context["effect"] is None
    assert 'id="effect"' not in preview.content.decode()
