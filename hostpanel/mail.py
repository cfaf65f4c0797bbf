"""The SMTP mailer of e-mail alerts: Django's, with its `timeout` (HOSTPANEL_SMTP_TIMEOUT) as one wall-clock
deadline for the whole conversation — connect, TLS, login, the message, quit — where smtplib's timeout is
per operation and a server that answers a byte a second would hold the sender forever."""

from __future__ import annotations

import functools
import smtplib
import time
from typing import Any

from django.core.mail.backends.smtp import EmailBackend

from hostpanel.deadline import deadline_file, time_left

DEFAULT_SECONDS = 10.0


class _Deadline:
    """smtplib.SMTP's socket waits, each bounded by what is left of one deadline `seconds` from now."""

    def __init__(self, *args: Any, seconds: float, **kwargs: Any) -> None:
        self.deadline, self.late = (
            time.monotonic() + seconds,
            f"no answer within {seconds:g} s (the whole conversation)",
        )
        super().__init__(*args, **kwargs)

    def _left(self) -> float:
        return time_left(self.deadline, self.late)

    def _get_socket(self, host: str, port: int, timeout: float | None) -> Any:
        return super()._get_socket(host, port, self._left())  # SMTP_SSL's handshake included

    def send(self, s: Any) -> None:
        if self.sock:
            self.sock.settimeout(self._left())  # sendall's timeout is for the whole call
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = deadline_file(self.sock, self.deadline)
        try:
            return super().getreply()
        except smtplib.SMTPServerDisconnected:
            if time.monotonic() >= self.deadline - 0.05:  # the last read's timeout was what was left
                raise smtplib.SMTPServerDisconnected(self.late) from None
            raise

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if self.sock:
            self.sock.settimeout(self._left())  # the handshake as a whole keeps to it
        return super().starttls(*args, **kwargs)


class _DeadlineSMTP(_Deadline, smtplib.SMTP):
    pass


class _DeadlineSMTPSSL(_Deadline, smtplib.SMTP_SSL):
    pass


class DeadlineEmailBackend(EmailBackend):
    """Django's SMTP backend; every connection it opens ends within `timeout` seconds of its opening."""

    @property
    def connection_class(self):
        smtp = _DeadlineSMTPSSL if self.use_ssl else _DeadlineSMTP
        return functools.partial(smtp, seconds=float(self.timeout or DEFAULT_SECONDS))
