"""Rolling restarts on real parts: two standalone Apaches in front of two Plone-like backends, and a
Zope host reached over real SSH whose restart command stops and starts a backend on the same port."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from balancers.models import BalancerMember, FrontEnd
from operations.choices import RestartStatus, RestartStepName, StepOutcome
from operations.models import RollingRestart, ZopeServerOps
from operations.runner import restart_execute
from operations.services import rolling_restart_cancel, rolling_restart_resume, rolling_restart_start
from status.manager import ManagerEndpoint, fetch_manager
from status.parse import find_worker
from tests.factories import ACTOR

pytestmark = pytest.mark.real


class Client(threading.Thread):
    """A browser hitting linux.co.uk through one front-end every 20 ms, with or without cookies."""

    def __init__(self, fleet, frontend: str, cookie: str | None = None) -> None:
        super().__init__(daemon=True)
        self.fleet, self.frontend, self.cookie = fleet, frontend, cookie
        self.seen: list[tuple[float, int, str, str | None]] = []  # (time, status, backend, Plone user)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            at = time.time()
            try:
                status, backend, _, data = self.fleet.get(self.frontend, "linux.co.uk", cookie=self.cookie)
            except (OSError, http.client.HTTPException) as exc:  # a cut response is a failed request too
                status, backend, data = 0, f"{type(exc).__name__}: {exc}", {}
            self.seen.append((at, status, backend, data.get("user")))
            time.sleep(0.02)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)

    def between(self, start: float, end: float) -> list[tuple[float, int, str, str | None]]:
        return [s for s in self.seen if start <= s[0] <= end]


def login_through(fleet, frontend: str, route: str) -> str:
    """Log in to the Plone-like site through the front-end, on `route`; the Cookie header a browser then sends."""
    conn = http.client.HTTPConnection("127.0.0.1", fleet.host(frontend).http_port, timeout=10)
    conn.request(
        "POST",
        "/login",
        body="__ac_name=alice&__ac_password=secret",
        headers={
            "Host": "linux.co.uk",
            "Cookie": f"BALANCEID=balancer.{route}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = conn.getresponse()
    assert response.status == 302 and response.getheader("X-Backend") == route
    assert "__ac=alice" in (response.getheader("Set-Cookie") or "")
    conn.close()
    return f"BALANCEID=balancer.{route}; __ac=alice"


def steps_of(job: RollingRestart, route: str) -> dict[str, object]:
    return {s.step: s for s in job.steps.filter(route=route)}


def live_flags(fleet, frontend: str, route: str):
    """The member's live flags in the front-end's balancer-manager."""
    host = fetch_manager(ManagerEndpoint.of(FrontEnd.objects.get(name=frontend)))
    member = BalancerMember.objects.select_related("zope_server").get(zope_server__name=route)
    return find_worker(host.balancer("bronze"), urls=[member.zope_server.url], route=route).flags


def test_a_rolling_restart_keeps_every_request_served_and_sticky_clients_on_their_member(fleet, zope_host):
    fleet.enable_restarts(zope_host)
    sticky = Client(fleet, "fe1", cookie=login_through(fleet, "fe1", "zope1"))
    newcomers = Client(fleet, "fe2")
    sticky.start()
    newcomers.start()
    time.sleep(0.3)
    try:
        job = rolling_restart_start(balancer=fleet.balancer, actor=ACTOR, enqueue=False)
        assert job.routes == ["zope1", "zope2"]
        job = restart_execute(job.pk)
        time.sleep(0.3)
    finally:
        sticky.stop()
        newcomers.stop()

    assert job.status == RestartStatus.SUCCEEDED, (job.message, [(s.route, s.step, s.detail) for s in job.steps.all()])
    assert fleet.restarts == {"zope1": 1, "zope2": 1}
    for route in ("zope1", "zope2"):
        steps = steps_of(job, route)
        assert list(steps) == RestartStepName.values  # every step is a row, in order
        assert {s.outcome for s in steps.values()} == {StepOutcome.OK}, [(s.step, s.detail) for s in steps.values()]
    # no request failed, for the logged-in client or for new ones
    failed = [s for s in sticky.seen + newcomers.seen if s[1] != 200]
    assert not failed and sticky.seen and newcomers.seen, failed[:5]
    assert {s[3] for s in sticky.seen} == {"alice"}
    # the sticky client stays on zope1 while it drains, until the moment it is restarted
    zope1, zope2 = steps_of(job, "zope1"), steps_of(job, "zope2")
    before_restart = sticky.between(0, zope1["restart"].started_at.timestamp())
    assert len(before_restart) >= 3 and {s[2] for s in before_restart} == {"zope1"}
    drained = sticky.between(zope1["drain"].finished_at.timestamp(), zope1["restart"].started_at.timestamp())
    assert {s[2] for s in drained} <= {"zope1"}
    # new sessions go to the other member while one is drained
    while_zope1_out = newcomers.between(zope1["drain"].finished_at.timestamp(), zope1["undrain"].started_at.timestamp())
    while_zope2_out = newcomers.between(zope2["drain"].finished_at.timestamp(), zope2["undrain"].started_at.timestamp())
    assert while_zope1_out and {s[2] for s in while_zope1_out} == {"zope2"}
    assert while_zope2_out and {s[2] for s in while_zope2_out} == {"zope1"}
    # the restarted server was checked and warmed directly, and nobody is left drained
    paths = [r.path for r in fleet.backends["zope1"].requests]
    assert "/@@ok" in paths and "/VirtualHostBase/http/linux.co.uk:80/plone/linux/VirtualHostRoot/" in paths
    assert not BalancerMember.objects.filter(drain=True).exists()
    for frontend in ("fe1", "fe2"):
        assert not live_flags(fleet, frontend, "zope1").drain and not live_flags(fleet, frontend, "zope2").drain


def test_a_failing_restart_stops_the_job_with_the_member_left_drained_and_resume_finishes_it(fleet, zope_host):
    fleet.enable_restarts(zope_host)
    ops = ZopeServerOps.objects.get(zope_server__name="zope1")
    good_command = ops.restart_command
    ops.restart_command = "echo 'zope1: instance is locked' >&2; exit 3"
    ops.save()

    job = restart_execute(rolling_restart_start(balancer=fleet.balancer, actor=ACTOR, enqueue=False).pk)

    assert job.status == RestartStatus.FAILED
    assert "zope1: restart failed" in job.message and "zope1 is left drained" in job.message
    assert "instance is locked" in job.message and "exit code 3" in job.message
    assert steps_of(job, "zope1")["restart"].outcome == StepOutcome.FAILED
    assert not job.steps.filter(route="zope2").exists()  # the next member was never touched
    assert BalancerMember.objects.get(zope_server__name="zope1").drain
    assert live_flags(fleet, "fe1", "zope1").drain and live_flags(fleet, "fe2", "zope1").drain
    assert fleet.restarts == {"zope1": 0, "zope2": 0}

    ops.restart_command = good_command
    ops.save()
    job = restart_execute(rolling_restart_resume(job, actor=ACTOR, enqueue=False).pk)
    assert job.status == RestartStatus.SUCCEEDED, job.message
    assert fleet.restarts == {"zope1": 1, "zope2": 1}
    assert not BalancerMember.objects.filter(drain=True).exists()
    assert job.steps.filter(route="zope1", step="drain").count() == 2  # the resumed member started again


def test_the_drain_survives_a_graceful_reload_during_the_job(fleet, zope_host):
    fleet.enable_restarts(zope_host)
    seen_after_reload = {}

    def on_step(row):
        if row.route == "zope1" and row.step == "drain" and row.outcome == StepOutcome.OK:
            fleet.deploy()  # someone's deployment: render (the member is saved drained) + graceful
            seen_after_reload.update({fe: live_flags(fleet, fe, "zope1").drain for fe in ("fe1", "fe2")})

    job = restart_execute(
        rolling_restart_start(balancer=fleet.balancer, actor=ACTOR, enqueue=False).pk, on_step=on_step
    )

    assert job.status == RestartStatus.SUCCEEDED, job.message
    assert seen_after_reload == {"fe1": True, "fe2": True}


def test_cancelling_stops_before_the_next_member(fleet, zope_host):
    fleet.enable_restarts(zope_host)

    def on_step(row):
        if row.route == "zope1" and row.step == "settle" and row.outcome == StepOutcome.RUNNING:
            rolling_restart_cancel(RollingRestart.objects.get(pk=row.restart_id), actor=ACTOR)

    job = restart_execute(
        rolling_restart_start(balancer=fleet.balancer, actor=ACTOR, enqueue=False).pk, on_step=on_step
    )

    assert job.status == RestartStatus.CANCELLED
    assert fleet.restarts == {"zope1": 1, "zope2": 0}
    assert steps_of(job, "zope1")["settle"].outcome == StepOutcome.SKIPPED
    assert not BalancerMember.objects.filter(drain=True).exists()
    assert job.can_resume
