"""Is a site's current configuration live? sites.selectors compares the site's updated_at with the moment
each enabled front-end last rendered the current state (DeploymentHost.started_at)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStatus
from balancers.models import Deployment, DeploymentHost, FrontEnd
from balancers.services import deployment_start
from sites import services as site_services
from sites.models import Site
from sites.selectors import deploy_state, site_liveness
from tests.factories import ACTOR, make_local_frontend

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
SECOND = datetime.timedelta(seconds=1)


def frontend(name: str, **extra) -> FrontEnd:
    return balancer_services.frontend_create(actor=ACTOR, name=name, address="10.0.0.1", ssh_host_key=HOST_KEY, **extra)


def deployed(
    frontends: list[FrontEnd],
    *,
    at: datetime.datetime,
    status: str = HostStatus.SUCCEEDED,
    trigger: str = DeploymentTrigger.AUTOMATIC,
) -> Deployment:
    """A finished deployment whose hosts took their lease (and rendered) at `at`."""
    deployment = Deployment.objects.create(actor="tests", status=DeploymentStatus.SUCCEEDED, trigger=trigger)
    for fe in frontends:
        DeploymentHost.objects.create(
            deployment=deployment, frontend=fe, frontend_name=fe.name, status=status, stage="done", started_at=at
        )
    return deployment


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


def test_a_site_is_not_live_while_there_is_no_enabled_front_end(site):
    assert site_liveness(site) == {"live": False, "pending_deployment": None, "left_out": ""}
    fe = frontend("fe1", enabled=False)
    deployed([fe], at=site.updated_at + SECOND)
    assert site_liveness(site) == {"live": False, "pending_deployment": None, "left_out": ""}


def test_a_site_is_live_once_every_enabled_front_end_rendered_after_its_change(site):
    fe1, fe2 = frontend("fe1"), frontend("fe2")
    frontend("off", enabled=False)  # a disabled front-end does not count
    deployed([fe1], at=site.updated_at + SECOND)
    assert site_liveness(site)["live"] is False  # fe2 has not got it yet
    deployed([fe2], at=site.updated_at, status=HostStatus.UNCHANGED)  # the very moment counts; unchanged too
    assert site_liveness(site) == {"live": True, "pending_deployment": None, "left_out": ""}


def test_a_site_the_last_deployment_left_out_is_not_live_and_says_why(site):
    fe = frontend("fe1")
    deployed([fe], at=site.updated_at + SECOND)
    Site.objects.filter(pk=site.pk).update(render_error="refusing to render: unsafe character '*'")
    site.refresh_from_db()
    assert site_liveness(site) == {
        "live": False,
        "pending_deployment": None,
        "left_out": "refusing to render: unsafe character '*'",
    }
    Site.objects.filter(pk=site.pk).update(render_error="")  # the next deployment rendered it
    site.refresh_from_db()
    assert site_liveness(site) == {"live": True, "pending_deployment": None, "left_out": ""}


def test_a_deployment_that_rendered_before_the_change_does_not_count(site):
    fe = frontend("fe1")
    deployed([fe], at=timezone.now())
    assert site_liveness(site)["live"] is True
    site = site_services.site_update(site, actor=ACTOR, plone_path="/plone/other")
    assert site_liveness(site)["live"] is False


def test_a_failed_host_does_not_count(site):
    fe = frontend("fe1")
    deployed([fe], at=site.updated_at + SECOND, status=HostStatus.FAILED)
    deployed([fe], at=site.updated_at + SECOND, status=HostStatus.ROLLED_BACK)
    assert site_liveness(site)["live"] is False


def test_a_rollback_after_the_render_puts_an_older_tree_live(site):
    fe = frontend("fe1")
    deployed([fe], at=site.updated_at + SECOND)
    deployed([fe], at=site.updated_at + 2 * SECOND, trigger=DeploymentTrigger.ROLLBACK)
    assert site_liveness(site)["live"] is False
    deployed([fe], at=site.updated_at + 3 * SECOND, trigger=DeploymentTrigger.MANUAL)
    assert site_liveness(site)["live"] is True


def test_the_pending_deployment_is_the_queued_one_that_carries_the_change(site, settings):
    fe = frontend("fe1")
    settings.HOSTPANEL_AUTO_DEPLOY = True
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    site = site_services.site_suspend(site, actor=ACTOR, reason="unpaid")
    assert site.deployment.status == DeploymentStatus.QUEUED
    assert site_liveness(site) == {"live": False, "pending_deployment": site.deployment.pk, "left_out": ""}
    again = site_services.site_unsuspend(site, actor=ACTOR)
    assert again.deployment == site.deployment  # coalesced: the same queued deployment carries both changes
    assert site_liveness(again) == {"live": False, "pending_deployment": site.deployment.pk, "left_out": ""}
    deployed([fe], at=timezone.now())
    Deployment.objects.filter(pk=site.deployment.pk).update(status=DeploymentStatus.SUCCEEDED)
    assert site_liveness(again) == {"live": True, "pending_deployment": None, "left_out": ""}


def test_a_running_deployment_is_pending_only_if_it_started_after_the_change(site):
    frontend("fe1")
    early = Deployment.objects.create(
        actor="t", status=DeploymentStatus.RUNNING, started_at=site.updated_at - SECOND, trigger="manual"
    )
    assert site_liveness(site)["pending_deployment"] is None
    late = Deployment.objects.create(
        actor="t", status=DeploymentStatus.RUNNING, started_at=site.updated_at + SECOND, trigger="manual"
    )
    assert early.pk < late.pk
    assert site_liveness(site)["pending_deployment"] == late.pk
    Deployment.objects.create(actor="t", status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.ROLLBACK)
    assert site_liveness(site)["pending_deployment"] == late.pk  # a rollback does not carry the change


@pytest.mark.parametrize(
    "change",
    [
        lambda site: site_services.site_suspend(site, actor=ACTOR, reason="unpaid"),
        lambda site: site_services.site_update(site, actor=ACTOR, aliases=["linux.example.org"]),
        lambda site: site_services.site_update(site, actor=ACTOR, customer_ref="C-7"),
    ],
    ids=["suspend", "aliases", "customer_ref"],
)
def test_every_change_to_a_site_moves_updated_at(site, change):
    before = site.updated_at
    changed = change(site)
    assert Site.objects.get(pk=changed.pk).updated_at > before


def test_unsuspending_moves_updated_at_and_a_no_op_does_not(site):
    suspended = site_services.site_suspend(site, actor=ACTOR, reason="unpaid")
    stamp = Site.objects.get(pk=site.pk).updated_at
    site_services.site_suspend(suspended, actor=ACTOR)  # already suspended: nothing changes, nothing to deploy
    assert Site.objects.get(pk=site.pk).updated_at == stamp
    site_services.site_unsuspend(suspended, actor=ACTOR)
    assert Site.objects.get(pk=site.pk).updated_at > stamp


def test_a_real_local_deployment_makes_the_site_live(site, tmp_path, django_capture_on_commit_callbacks):
    make_local_frontend(tmp_path, "local1")
    assert site_liveness(site)["live"] is False
    with django_capture_on_commit_callbacks(execute=True):  # the immediate task backend runs it on commit
        deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED, [h.error for h in deployment.hosts.all()]
    assert site_liveness(Site.objects.get(pk=site.pk))["live"] is True
    site = site_services.site_update(site, actor=ACTOR, aliases=["linux.example.org"])
    assert site_liveness(site)["live"] is False


def test_the_fleet_is_read_in_two_queries_whatever_the_number_of_sites(
    site, django_assert_num_queries, django_assert_max_num_queries
):
    for name in ("fe1", "fe2", "fe3"):
        deployed([frontend(name)], at=site.updated_at + SECOND)
    with django_assert_num_queries(2):
        state = deploy_state()
    sites = list(Site.objects.all())
    with django_assert_max_num_queries(0):
        assert [state.liveness(s)["live"] for s in sites] == [True] * len(sites)


def test_a_deployment_that_took_the_lease_after_a_newer_one_still_counts(site):
    fe = frontend("fe1")
    older = Deployment.objects.create(actor="t", status=DeploymentStatus.SUCCEEDED, trigger="manual")
    deployed([fe], at=site.updated_at - SECOND)  # the newer deployment got fe1's lease first ...
    DeploymentHost.objects.create(  # ... the older one after it, rendering the state after the change
        deployment=older, frontend=fe, frontend_name="fe1", status="succeeded", started_at=site.updated_at + SECOND
    )
    assert site_liveness(site)["live"] is True


def test_after_a_long_history_the_newest_good_rows_decide_in_two_queries(site, django_assert_num_queries):
    fe = frontend("fe1")
    for _ in range(30):  # more rows than the selector reads per front-end (RECENT_HOSTS)
        deployed([fe], at=site.updated_at - SECOND)
    deployed([fe], at=site.updated_at + SECOND)
    with django_assert_num_queries(2):
        assert site_liveness(site)["live"] is True
