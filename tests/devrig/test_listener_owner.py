"""devrig.net.listener_owned_by_session: a real part's start checks the port answers from ITS process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from devrig.net import free_port_block, listener_owned_by_session


def test_a_listener_is_owned_only_by_the_session_that_opened_it():
    port = free_port_block(1)
    child = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not listener_owned_by_session(port, child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listener_owned_by_session(port, child.pid)
    finally:
        child.terminate()
        child.wait(10)
    with socket.socket() as sock:  # the same port, now this process's own listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not listener_owned_by_session(port, child.pid)
