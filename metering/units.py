"""Byte counts for people: 1.5 GB on the page (the exact count in a title), and "500 GB" typed in a form.
Decimal units (1 GB = 10^9 bytes), as ISPs bill traffic."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

UNITS = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
FACTORS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
_QUANTITY = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([kKmMgGtTpP]?[bB])?\s*$")
MAX_BYTES = 2**63 - 1  # PositiveBigIntegerField


def human_bytes(value: int | None) -> str:
    """1234567 -> '1.2 MB'; under 1 KB in bytes."""
    value = int(value or 0)
    for unit, factor in UNITS:
        if value >= factor:
            scaled = value / factor
            return f"{scaled:.1f} {unit}" if scaled < 100 else f"{scaled:.0f} {unit}"
    return f"{value} B"


def human_count(value: int | None) -> str:
    """1234567 -> '1.2 M' (requests)."""
    value = int(value or 0)
    for unit, factor in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if value >= factor:
            scaled = value / factor
            return f"{scaled:.1f} {unit}" if scaled < 100 else f"{scaled:.0f} {unit}"
    return str(value)


def parse_bytes(text: str) -> int:
    """'500 GB', '1.5TB', '2000000' (bytes) -> an int of bytes. Raises ValidationError for anything else."""
    match = _QUANTITY.match(text or "")
    if not match:
        raise ValidationError("Give a number of bytes, or a quantity such as 500 GB or 1.5 TB.", code="invalid")
    number, unit = match.groups()
    try:
        amount = Decimal(number.replace(",", ".")) * FACTORS[(unit or "B").upper()]
    except (InvalidOperation, KeyError):
        raise ValidationError(
            "Give a number of bytes, or a quantity such as 500 GB or 1.5 TB.", code="invalid"
        ) from None
    if amount != amount.to_integral_value() or amount < 1 or amount > MAX_BYTES:
        raise ValidationError(f"Give a whole number of bytes between 1 and {MAX_BYTES}.", code="invalid")
    return int(amount)
