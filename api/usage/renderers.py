"""CSV for billing imports: `?format=csv` or `Accept: text/csv` on the usage endpoints (one row per bucket
or per site, a header row, UTC times in ISO 8601)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        rows = data.get("results", []) if isinstance(data, dict) else list(data or [])
        columns = (renderer_context or {}).get("csv_columns") or (list(rows[0]) if rows else [])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # a spreadsheet must not run a domain or reference as a formula (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
