"""A slow HTTP peer on 127.0.0.1 (port 0): it reads the request, then drips its status line and headers one
byte every `interval` seconds and never finishes them — a per-read timeout never fires, only a wall-clock
deadline ends the exchange. After `hold` seconds (longer than any test waits) it hangs up, so that a client
without a deadline fails its test instead of holding the suite. To an SMTP client it is a server whose
greeting never ends. The tests use it through the `dripping_server` fixture
(tests/harness/fixtures.py)."""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import threading
import time


class StillWaiting(BaseException):  # not an Exception: the client's own `except Exception` must not eat it
    pass


def within(limit: float, call):
    """(result, seconds) of call(); fails after `limit` seconds instead of hanging the suite (a client without
    a deadline waits as long as the peer keeps sending). SIGALRM interrupts the call in this (the main) thread."""

    def give_up(signum, frame):
        raise StillWaiting(f"still waiting after {limit:g} s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, limit)
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Padding: " + b"x" * 4000


class DrippingServer:
    """Accepts any number of connections; each gets the same endless header drip. `closed_after` holds, for
    each connection, how many seconds after its accept the client closed it (None while it is open)."""

    def __init__(self, interval: float = 0.5, hold: float = 12.0) -> None:
        self.interval, self.hold = interval, hold
        self.closed_after: list[float | None] = []
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self._threads: list[threading.Thread] = []
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/balancer-manager"
        self._acceptor = threading.Thread(target=self._accept, name="dripping-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.closed_after.append(None)
            thread = threading.Thread(
                target=self._drip, args=(conn, len(self.closed_after) - 1), name="dripping-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _drip(self, conn: socket.socket, index: int) -> None:
        accepted = time.monotonic()
        with conn:
            conn.settimeout(0.1)  # an SMTP client sends nothing first: its greeting starts at once
            with contextlib.suppress(OSError):
                conn.recv(65536)
            for byte in HEAD:
                if self._stop.wait(self.interval) or time.monotonic() - accepted > self.hold:
                    return
                try:
                    conn.sendall(bytes([byte]))
                    readable, _, _ = select.select([conn], [], [], 0)
                    if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                        break  # the client closed its end
                except OSError:
                    break
            self.closed_after[index] = time.monotonic() - accepted

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(2)
        for thread in self._threads:
            thread.join(2)
        self._listener.close()
