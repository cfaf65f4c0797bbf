"""Site options travel in the routing map: setting, changing or clearing them (edit host included) is a
map-only release (no configtest, no reload); a change of the staff networks, written once into the routing
rules, is a config change. Rendered from the database, pushed on the local transport (deploy.release)."""

from __future__ import annotations

import dataclasses

import pytest

from balancers.choices import ChangeKind, HostStatus
from deploy.release import Hooks, push_tree
from deploy.transport.protocol import LocalTransport
from rendering.render import render_tree
from rendering.routes import change_kind
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import logged_commands, logging_host


@pytest.fixture
def host(tmp_path):
    return logging_host(tmp_path)


def push(host, tree):
    outcome = push_tree(
        LocalTransport(), host["target"], tree, hooks=Hooks(progress=lambda _: None), verify_seconds=0.3
    )
    assert outcome.status == HostStatus.SUCCEEDED, outcome
    return outcome


def changed(old: dict[str, str], new: dict[str, str]) -> set[str]:
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


@pytest.mark.parametrize(
    "options",
    [
        {"manage_access": "staff"},
        {"manage_access": "blocked", "blocked_methods": ["PUT", "DELETE"]},
        {"passthrough_paths": ["/icons/", "/robots.txt"]},
        {"edit_host": "edit.linux.co.uk"},
    ],
)
def test_setting_then_clearing_a_sites_options_is_a_map_only_release(demo, frontend, actor, host, options):
    site = Site.objects.get(domain="linux.co.uk")
    before = render_tree(load_snapshot(), frontend)
    assert push(host, before).change == ChangeKind.CONFIG  # the first release
    assert logged_commands(host) == ["configtest", "reload"]

    site_services.site_update(site, actor=actor, **options)
    after = render_tree(load_snapshot(), frontend)
    assert change_kind(changed(before, after)) == "map", changed(before, after)
    assert push(host, after).change == ChangeKind.MAP
    cleared = {"manage_access": "public", "blocked_methods": [], "passthrough_paths": [], "edit_host": ""}
    site_services.site_update(site, actor=actor, **{name: cleared[name] for name in options})
    again = render_tree(load_snapshot(), frontend)
    assert again == before  # no option left: the site's lines are exactly as before
    assert push(host, again).change == ChangeKind.MAP
    assert logged_commands(host) == ["configtest", "reload"]  # nothing since the first release


def test_a_change_of_the_staff_networks_is_a_config_change(demo, frontend):
    snapshot = load_snapshot()
    before = render_tree(snapshot, frontend)
    after = render_tree(dataclasses.replace(snapshot, staff_networks=("192.0.2.0/24",)), frontend)
    assert changed(before, after) == {
        "routing-http.conf",
        "routing-https.conf",
        "MANIFEST",
        "public/hostpanel-release.txt",
    }
    assert change_kind(changed(before, after)) == "config"
    assert "RewriteCond expr \"!(-R '192.0.2.0/24')\"" in after["routing-http.conf"]
