"""Assertion helpers shared by the page tests of several apps."""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError


def message_of(validator, value) -> str:
    """The message the shared validator gives for value (what every form must show)."""
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value.messages[0]


def shows(response, message: str) -> bool:
    """True when the page shows message (HTML-escaped or as it is)."""
    return html.escape(message) in response.content.decode() or message in response.content.decode()
