"""One wall-clock deadline for a blocking conversation over a socket (the HTTP client, the SMTP mailer).

A socket's timeout is per operation: a peer that sends one byte a second never lets it fire. Here every
wait (send, each read) gets only what is left of one deadline (a time.monotonic() value), so the
conversation is over when the deadline passes, whatever the peer does."""

from __future__ import annotations

import io
import socket
import time
from typing import Any


def time_left(deadline: float, what: str = "") -> float:
    """Seconds left until `deadline`, or TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(what or "the deadline has passed")
    return left


class DeadlineReader(io.RawIOBase):
    """A socket's reads for a buffered file (http.client's, smtplib's): each waits at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        # the socket's own file: it keeps the socket open until the file is closed (http.client closes early)
        self._sock, self._file, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self._sock.settimeout(time_left(self._deadline))
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


def deadline_file(sock: socket.socket, deadline: float) -> io.BufferedReader:
    return io.BufferedReader(DeadlineReader(sock, deadline))


class DeadlineSocket:
    """A connected socket as http.client uses it (sendall, makefile, close), every wait bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(time_left(self._deadline))  # sendall's timeout is for the whole call
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return deadline_file(self._sock, self._deadline)

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
