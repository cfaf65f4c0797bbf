"""The tree is stored in the database while its release uploads (deploy/host._Storing): the switch waits
for it, so a front-end is never switched to a tree the panel has no row of, and a store that fails leaves
the front-end as it was."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from django.db import DatabaseError

from balancers.choices import DeploymentStatus, HostStatus
from balancers.models import DeploymentHost
from balancers.services import deployment_start
from deploy import host as host_module
from deploy.runner import deployment_execute
from deploy.swap import Swapper
from sites import services as site_services
from tests.factories import ACTOR, make_local_frontend


def deploy():
    return deployment_execute(deployment_start(actor=ACTOR, enqueue=False).pk)


def test_the_switch_happens_after_the_tree_is_stored_in_a_thread_of_its_own(
    transactional_db, demo, tmp_path, monkeypatch
):
    make_local_frontend(tmp_path, "fe1")
    make_local_frontend(tmp_path, "fe2")
    seen, threads = [], []
    real_switch, real_store = Swapper.switch, host_module.store_tree

    def switch(self, release):
        rows = DeploymentHost.objects.filter(tree__isnull=False, status=HostStatus.RUNNING)
        seen.append(sorted(rows.values_list("frontend_name", flat=True)))
        real_switch(self, release)

    def store(tree, **kwargs):
        threads.append(threading.current_thread().name)
        return real_store(tree, **kwargs)

    monkeypatch.setattr(Swapper, "switch", switch)
    monkeypatch.setattr(host_module, "store_tree", store)
    deployment = deploy()
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert threads == ["store-tree", "store-tree"]  # not the deploy threads: it overlapped the upload
    assert len(seen) == 2 and all(seen)  # at each switch, that host's row already named its stored tree
    stores = [h.output for h in deployment.hosts.all()]
    assert all("store " in output for output in stores)  # its time is in the stage timings


def test_a_store_that_fails_leaves_the_front_end_as_it_was(transactional_db, demo, tmp_path, monkeypatch):
    frontend = make_local_frontend(tmp_path, "fe1")
    assert deploy().status == DeploymentStatus.SUCCEEDED
    live = os.path.realpath(frontend.config_dir)
    site_services.site_create(actor=ACTOR, domain="new.example.org", balancer="bronze", plone_path="/plone/new")

    def broken(tree, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(host_module, "store_tree", broken)
    deployment = deploy()
    (row,) = deployment.hosts.all()
    assert deployment.status == DeploymentStatus.FAILED
    assert row.status == HostStatus.FAILED and "disk I/O error" in row.error
    assert "not touched" in row.error
    assert os.path.realpath(frontend.config_dir) == live  # not switched
    assert "new.example.org" not in (Path(frontend.config_dir) / "routes.map").read_text()
