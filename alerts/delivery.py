"""Sending one message: e-mail through Django's mailer, or a webhook — a JSON POST through the one HTTP
client (status.manager) signed `X-HostPanel-Signature: sha256=<hex HMAC-SHA256 of the body>`
with the channel's shared secret. One call, one attempt; retries are the caller's (alerts.services)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage

from alerts.choices import ChannelKind
from alerts.models import AlertChannel
from certificates.crypto import SecretsError, decrypt_secret
from hostpanel.http import http_exchange
from hostpanel.validators import validate_alert_file_name

SIGNATURE_HEADER = "X-HostPanel-Signature"


@dataclass(frozen=True)
class Sent:
    ok: bool
    detail: str
    seconds: float


def webhook_body(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The header value a receiver recomputes: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def email_text(payload: dict) -> tuple[str, str]:
    state = {"fire": "ALERT", "repeat": "STILL FAILING", "recovery": "RESOLVED", "test": "TEST"}[payload["kind"]]
    subject = f"[HostPanel] {state}: {payload['summary']}"[:200]
    lines = [payload["summary"], "", payload.get("detail") or "", ""]
    for name in ("event", "subject", "first_seen_at", "fired_at", "resolved_at", "url"):
        if payload.get(name):
            lines.append(f"{name.replace('_', ' ')}: {payload[name]}")
    return subject, "\n".join(lines).strip() + "\n"


def alert_file_path(name: str) -> Path:
    """Where a file channel writes: HOSTPANEL_VAR_DIR/alerts/<name> (the name checked again here)."""
    validate_alert_file_name(name)
    return Path(settings.VAR_DIR) / "alerts" / name


def _append_line(name: str, payload: dict) -> str:
    path = alert_file_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = json.dumps(payload, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return f"appended to {path}"


def deliver(channel: AlertChannel, payload: dict) -> Sent:
    started = time.monotonic()
    if channel.kind == ChannelKind.FILE:
        try:
            detail = _append_line(channel.target, payload)
        except (OSError, ValidationError) as exc:
            return Sent(False, f"{type(exc).__name__}: {exc}"[:500], time.monotonic() - started)
        return Sent(True, detail[:500], time.monotonic() - started)
    if channel.kind == ChannelKind.EMAIL:
        subject, text = email_text(payload)
        try:
            EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, [channel.target]).send()
        except Exception as exc:  # noqa: BLE001 - SMTP and socket errors of every kind are one failed attempt
            return Sent(False, f"{type(exc).__name__}: {exc}"[:500], time.monotonic() - started)
        return Sent(True, "accepted by the mail server", time.monotonic() - started)
    try:
        secret = decrypt_secret(channel.secret_encrypted) if channel.secret_encrypted else b""
    except SecretsError as exc:
        return Sent(False, str(exc), 0.0)
    body = webhook_body(payload)
    answer = http_exchange(
        "POST",
        channel.target,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, body),
            "X-HostPanel-Event": payload["event"],
        },
        body=body,
        timeout=float(settings.HOSTPANEL_ALERT_TIMEOUT),
        max_bytes=2048,
    )
    if not answer.status:
        return Sent(False, answer.error, answer.seconds)
    return Sent(200 <= answer.status < 300, f"HTTP {answer.status}", answer.seconds)
