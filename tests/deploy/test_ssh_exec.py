"""SSHTransport's command loop against a scripted channel: the orders of events sshd is allowed to send."""

from __future__ import annotations

import threading
import time

import pytest

from deploy.transport.protocol import TransportError
from deploy.transport.ssh import SSHTransport


class ScriptedChannel:
    """A session channel whose exit status arrives before its output, as OpenSSH may send it."""

    def __init__(self, chunks: list[bytes], polls_before_output: int) -> None:
        self.status_event = threading.Event()
        self.status_event.set()  # exit-status first
        self._chunks, self._polls = list(chunks), polls_before_output
        self.eof_received = False
        self.closed = False

    def exec_command(self, command: str) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        pass

    def shutdown_write(self) -> None:
        pass

    def exit_status_ready(self) -> bool:
        self._polls -= 1
        if self._polls < 0 and not self.eof_received and not self._chunks:
            self.eof_received = True
        return True

    def recv_ready(self) -> bool:
        return self._polls < 0 and bool(self._chunks)

    def recv(self, n: int) -> bytes:
        return self._chunks.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    def recv_stderr(self, n: int) -> bytes:
        return b""

    def recv_exit_status(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


class ScriptedClient:
    def __init__(self, channel: ScriptedChannel) -> None:
        self.channel = channel

    def get_transport(self):
        client = self

        class _Transport:
            def is_active(self) -> bool:
                return True

            def open_session(self, timeout=None):
                return client.channel

        return _Transport()


def scripted_transport(channel: ScriptedChannel) -> SSHTransport:
    ssh = object.__new__(SSHTransport)
    ssh.description, ssh.timeout, ssh._client = "scripted", 5.0, ScriptedClient(channel)
    return ssh


@pytest.mark.parametrize("polls", [0, 1, 5])
def test_output_that_comes_after_the_exit_status_is_not_lost(polls):
    # A tree read once returned nothing in CI: the exit status had arrived before tar's output.
    channel = ScriptedChannel([b"tar ", b"stream"], polls_before_output=polls)
    code, out, err = scripted_transport(channel)._exec("tar -c .", timeout=5.0)
    assert (code, out, err) == (0, b"tar stream", b"")


class StalledChannel(ScriptedChannel):
    """A session channel whose host stopped reading: the SSH window stays full, every send waits its timeout."""

    def __init__(self, window: int) -> None:
        super().__init__([], polls_before_output=0)
        self.window, self.timeout, self.received = window, None, 0

    def settimeout(self, timeout) -> None:
        self.timeout = timeout

    def send(self, data: bytes) -> int:
        if self.received >= self.window:
            if self.timeout is None:
                raise AssertionError("a send without a timeout would block forever here")
            threading.Event().wait(self.timeout)
            raise TimeoutError
        count = min(len(data), self.window - self.received)
        self.received += count
        return count

    def sendall(self, data: bytes) -> None:
        raise AssertionError("sendall() waits forever for a host that stops reading")


def test_an_upload_the_host_stops_reading_fails_at_its_wall_clock_deadline(settings):
    settings.HOSTPANEL_SSH_UPLOAD_SECONDS = 0.5
    channel = StalledChannel(window=100_000)
    started = time.monotonic()
    with pytest.raises(TransportError, match="HOSTPANEL_SSH_UPLOAD_SECONDS") as info:
        scripted_transport(channel).run("tar -x -f -", input=b"x" * 1_000_000)
    assert time.monotonic() - started < 2.0
    assert "100000 of 1000000 bytes sent" in info.value.message and info.value.retryable
    assert channel.closed  # the stalled stream is given up, not left to a later reader


def test_a_command_that_closes_its_input_early_ends_the_upload_without_waiting(settings):
    settings.HOSTPANEL_SSH_UPLOAD_SECONDS = 30

    class Closed(StalledChannel):
        def send(self, data: bytes) -> int:
            return 0  # paramiko: the channel got EOF (the command exited without reading)

    started = time.monotonic()
    assert scripted_transport(Closed(window=0)).run("false", input=b"x" * 10).exit_code == 0
    assert time.monotonic() - started < 1.0
