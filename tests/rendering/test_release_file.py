"""The release file: every rendered tree names itself in public/hostpanel-release.txt, which HostPanel's
vhosts serve at /.well-known/hostpanel-release for any Host (the deployer's proof, deploy.release)."""

from __future__ import annotations

import hashlib

from rendering.manifest import MANIFEST, manifest_text, parse_manifest, seal_tree
from rendering.render import render_tree
from rendering.routes import RELEASE_FILE, RELEASE_URL_PATH, change_kind, is_map_only
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site


def _tree(frontend):
    return render_tree(load_snapshot(), frontend)


def test_the_release_file_is_the_digest_of_every_other_file_and_is_in_the_manifest(demo, frontend):
    tree = _tree(frontend)
    others = {path: text for path, text in tree.items() if path not in (MANIFEST, RELEASE_FILE)}
    expected = hashlib.sha256(manifest_text(others).encode()).hexdigest()
    assert tree[RELEASE_FILE] == f"hostpanel-release {expected}\n"
    assert RELEASE_FILE in parse_manifest(tree[MANIFEST])
    assert tree[MANIFEST] == manifest_text(tree)  # seal_tree builds the same MANIFEST as manifest_text


def test_a_site_change_gives_a_new_release_file_and_stays_a_map_only_change(demo, frontend, actor):
    site_services.site_create(actor=actor, domain="other.example", balancer=demo, plone_path="/plone/other")
    before = _tree(frontend)
    site_services.site_update(Site.objects.get(domain="other.example"), actor=actor, plone_path="/plone/moved")
    after = _tree(frontend)
    assert before[RELEASE_FILE] != after[RELEASE_FILE]
    changed = {path for path in after if after[path] != before[path]}
    assert changed == {"routes.map", MANIFEST, RELEASE_FILE}
    assert is_map_only(changed - {MANIFEST}) and change_kind(changed) == "map"
    assert not is_map_only({RELEASE_FILE})  # the release file alone is no change at all
    assert change_kind({RELEASE_FILE, "http.conf"}) == "config"


def test_hostpanels_vhosts_serve_it_before_any_route_and_the_https_default_vhost_too(demo, frontend):
    tree = _tree(frontend)
    rule = f'RewriteRule ^{RELEASE_URL_PATH.replace(".", chr(92) + ".")}$ "{frontend.config_dir}/{RELEASE_FILE}" [L]'
    for routing in ("routing-http.conf", "routing-https.conf"):
        lines = tree[routing].splitlines()
        assert rule in lines
        # before any route (the HTTPS routing's first condition only lets HostPanel's HTTPS vhosts in)
        assert lines.index(rule) < min(i for i, line in enumerate(lines) if line.startswith("RewriteCond ${"))
    assert f'<Directory "{frontend.config_dir}/public">' in tree["hostpanel.conf"]


def test_seal_tree_adds_the_release_file_and_manifest_to_any_tree():
    tree = {"a.conf": "x\n"}
    seal_tree(tree)
    assert set(tree) == {"a.conf", RELEASE_FILE, MANIFEST}
    other = {"a.conf": "y\n"}
    seal_tree(other)
    assert tree[RELEASE_FILE] != other[RELEASE_FILE]
