"""Stored trees as their changes against a base tree (deploy.stored): a map-only change stores a few
files whatever the number of HTTPS sites, seals only the keys that changed, reads back as the very tree
(keys opened), and cleanup never deletes a base a kept tree needs."""

from __future__ import annotations

import pytest

from balancers.models import ActivatedRelease, ConfigTree
from balancers.services import deployment_start
from deploy import secrets as secrets_module
from deploy.plan import Target
from deploy.release import read_live_tree
from deploy.retention import cleanup_once
from deploy.runner import deployment_execute
from deploy.secrets import open_tree
from deploy.stored import REBASE_FILES, store_tree, stored_files
from deploy.transport.protocol import LocalTransport
from rendering import cache
from rendering.manifest import MANIFEST, SEALED_PREFIX, seal_tree
from rendering.routes import RELEASE_FILE, ROUTES_MAP, ROUTES_RECENT
from sites import services as site_services
from tests.factories import ACTOR, make_local_frontend

pytestmark = pytest.mark.django_db


def https_tree(sites: int, recent: str = "") -> dict[str, str]:
    """A tree shaped like a front-end's: per HTTPS site a vhost, a certificate and a private key."""
    tree = {ROUTES_MAP: "".join(f"s{i}.example ok|bronze|/plone/s{i}|s|\n" for i in range(sites))}
    tree[ROUTES_RECENT] = recent
    for i in range(sites):
        tree[f"sites/s{i}.example.conf"] = f"<VirtualHost *:443>\n  ServerName s{i}.example\n</VirtualHost>\n"
        tree[f"tls/s{i}.example.crt"] = f"-----BEGIN CERTIFICATE-----\ncert {i}\n-----END CERTIFICATE-----\n"
        tree[f"tls/s{i}.example.key"] = f"-----BEGIN PRIVATE KEY-----\nkey {i}\n-----END PRIVATE KEY-----\n"
    seal_tree(tree)  # the release file and the MANIFEST, as the renderer adds them
    return tree


def with_recent(tree: dict[str, str], recent: str) -> dict[str, str]:
    """The next tree of a map-only change: the same files (the same strings), another overlay."""
    changed = {path: text for path, text in tree.items() if path != MANIFEST}
    changed[ROUTES_RECENT] = recent
    seal_tree(changed)
    return changed


@pytest.fixture
def sealing(monkeypatch, secrets_key):
    """How many private keys were sealed (encrypted)."""
    calls = []
    real = secrets_module.encrypt_secret

    def counting(data: bytes) -> str:
        calls.append(1)
        return real(data)

    monkeypatch.setattr(secrets_module, "encrypt_secret", counting)
    cache.STORED_BASES.clear()
    return calls


def map_only_store(sites: int, sealing: list, lineage: str) -> tuple[ConfigTree, dict[str, str], int]:
    whole = https_tree(sites)
    store_tree(whole, lineage=lineage)
    sealing.clear()
    tree = with_recent(whole, "plain.example ok|bronze|/plone/plain|s|\n")
    return store_tree(tree, lineage=lineage), tree, len(sealing)


def test_a_map_only_change_stores_and_seals_the_same_few_files_at_10_and_at_100_https_sites(sealing):
    small, small_tree, small_sealed = map_only_store(10, sealing, "fe1")
    large, large_tree, large_sealed = map_only_store(100, sealing, "fe2")
    for row in (small, large):
        assert row.base is not None and row.base.base is None  # stored against a whole tree
        assert set(row.files) == {ROUTES_RECENT, RELEASE_FILE}  # the overlay and the release file, no more
    assert len(small.files) == len(large.files) and len(small.delta["manifest"]) == len(large.delta["manifest"])
    assert small_sealed == large_sealed == 0  # no key changed: none encrypted again
    assert open_tree(stored_files(large)) == large_tree  # read back: every file, the MANIFEST rebuilt
    assert open_tree(stored_files(small)) == small_tree


def test_storing_a_map_only_change_takes_the_same_queries_at_10_and_at_100_sites(
    sealing, django_assert_max_num_queries
):
    for sites, lineage in ((10, "fe1"), (100, "fe2")):
        whole = https_tree(sites)
        store_tree(whole, lineage=lineage)
        with django_assert_max_num_queries(8):  # the digest, the base, get_or_create in a savepoint
            store_tree(with_recent(whole, f"n{sites}.example ok|bronze|/plone/n|s|\n"), lineage=lineage)


def test_a_changed_key_is_sealed_and_a_removed_site_is_gone_when_read_back(sealing):
    whole = https_tree(20)
    store_tree(whole, lineage="fe1")
    sealing.clear()
    tree = {path: text for path, text in whole.items() if path != MANIFEST and "s3.example" not in path}
    tree["tls/s4.example.key"] = "-----BEGIN PRIVATE KEY-----\nrenewed\n-----END PRIVATE KEY-----\n"
    seal_tree(tree)
    row = store_tree(tree, lineage="fe1")
    assert row.base_id is not None and len(sealing) == 1
    assert row.files["tls/s4.example.key"].startswith(SEALED_PREFIX) and "renewed" not in str(row.files)
    assert "sites/s3.example.conf" in row.delta["removed"]
    back = open_tree(stored_files(row))
    assert back == tree and "tls/s3.example.key" not in back


def test_past_the_rebase_limit_a_tree_is_stored_whole_and_becomes_the_next_base(sealing):
    whole = https_tree(REBASE_FILES + 1)  # one vhost more than the limit changes below
    store_tree(whole, lineage="fe1")
    tree = {path: text + "#\n" if path.startswith("sites/") else text for path, text in whole.items()}
    tree.pop(MANIFEST)
    seal_tree(tree)
    rebased = store_tree(tree, lineage="fe1")
    assert rebased.base_id is None and open_tree(stored_files(rebased)) == tree
    after = store_tree(with_recent(tree, "x.example ok|bronze|/plone/x|s|\n"), lineage="fe1")
    assert after.base_id == rebased.pk


def test_a_base_deleted_meanwhile_means_the_next_tree_is_stored_whole(sealing):
    whole = https_tree(10)
    base = store_tree(whole, lineage="fe1")
    ConfigTree.objects.filter(pk=base.pk).delete()
    row = store_tree(with_recent(whole, "y.example ok|bronze|/plone/y|s|\n"), lineage="fe1")
    assert row.base_id is None and len(stored_files(row)) == len(whole)


def test_cleanup_keeps_the_base_of_every_kept_tree_and_each_reads_back_as_deployed(demo, tmp_path, settings):
    cache.STORED_BASES.clear()
    frontend = make_local_frontend(tmp_path)
    settings.HOSTPANEL_KEEP_TREES = 1
    for i in range(3):
        site_services.site_create(actor=ACTOR, domain=f"d{i}.example", balancer="bronze", plone_path=f"/plone/d{i}")
        assert deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk).status == "succeeded"
    activated = ActivatedRelease.objects.get(frontend=frontend).tree
    assert activated.base_id is not None  # the last one was stored as its changes
    cleanup_once()
    assert set(ConfigTree.objects.values_list("pk", flat=True)) == {activated.pk, activated.base_id}
    live = read_live_tree(LocalTransport(), Target.of(frontend))
    assert open_tree(stored_files(activated)) == live  # a rollback to it pushes exactly what is live
