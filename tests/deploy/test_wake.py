"""A queued deployment reaches an idle worker at once: `manage.py deploy_worker` is woken through its
socket (deploy.wake) instead of finding it at its next poll."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time

from deploy.wake import WakeListener, notify_workers
from tests.samples import ROOT


def test_a_listener_wakes_when_notified_and_times_out_otherwise(settings, tmp_path):
    settings.HOSTPANEL_WAKE_DIR = tmp_path / "wake"
    assert notify_workers() == 0  # no directory yet: nobody to wake, no error
    with WakeListener() as wake:
        assert oct(wake.path.parent.stat().st_mode & 0o777) == "0o700"
        started = time.monotonic()
        assert wake.wait(0.2) is False
        assert time.monotonic() - started >= 0.19
        threading.Timer(0.1, notify_workers).start()
        started = time.monotonic()
        assert wake.wait(10) is True
        assert time.monotonic() - started < 2
        for _ in range(5):  # several wake-ups while busy: one wait drains them all
            notify_workers()
        assert wake.wait(0) is True
        assert wake.wait(0.05) is False
    assert not wake.path.exists()


def test_a_dead_workers_socket_is_removed_by_the_next_notify(settings, tmp_path):
    settings.HOSTPANEL_WAKE_DIR = tmp_path / "wake"
    (tmp_path / "wake").mkdir()
    dead = tmp_path / "wake" / "1-dead.wake"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:  # bound, then closed: nobody reads it
        sock.bind(str(dead))
    assert dead.exists()
    assert notify_workers() == 0
    assert not dead.exists()


def test_deploy_worker_runs_a_queued_task_long_before_its_poll_interval(tmp_path):
    db = tmp_path / "worker.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hostpanel.test_settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "HOSTPANEL_TASKS_BACKEND": "db",
        "HOSTPANEL_VAR_DIR": str(tmp_path / "var"),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deploy_worker", "--interval", "60", "-v2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "var" / "wake").glob("*.wake")):  # listening
            assert time.monotonic() < deadline and worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.05)
        time.sleep(0.5)  # idle now, in its 60 s wait
        queued = time.monotonic()
        script = (
            "from deploy.tasks import run_deployment\n"
            "from deploy.queue import hand_over\n"
            "assert hand_over(424242, run_deployment.enqueue)\n"
        )
        subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, timeout=120)
        while True:
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT status FROM django_tasks_database_dbtaskresult").fetchall()
            if rows and rows[0][0] == "SUCCESSFUL":
                break
            assert time.monotonic() - queued < 15, rows  # far below the 60 s poll: it was woken
            time.sleep(0.05)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert worker.returncode == 0, output
    assert not list((tmp_path / "var" / "wake").glob("*.wake"))  # it cleaned up on TERM
