"""Debian's Chromium for the browser tests, started the one way this machine needs: headless, no
sandbox (root), and none of the background connections a closed network refuses."""

from __future__ import annotations

from devrig.parts import find_binary

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch_chromium(playwright, *extra_args: str):
    """A headless Chromium (the caller closes it); `extra_args` e.g. --host-resolver-rules for a test."""
    return playwright.chromium.launch(
        executable_path=find_binary("chromium"), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )
