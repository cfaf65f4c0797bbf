"""Markers for read models declared as TypedDicts (balancers.selectors.overview ...): the one description
of a shape, read by the templates (plain dicts), the API (which derives its serializers and so the OpenAPI
schema from the same TypedDict: api.schema.serializer_for) and type checkers.

    class StatusFrontEnd(TypedDict):
        url: Annotated[str, Help("The front-end's balancer-manager URL.")]
        fetched_at: Annotated[str | None, DATETIME]   # an ISO 8601 string
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Help:
    """The help text of a read-model field (becomes its OpenAPI description)."""

    text: str


@dataclass(frozen=True)
class Format:
    """A string field's format (OpenAPI `format`), e.g. date-time for ISO 8601 timestamps."""

    name: str


DATETIME = Format("date-time")
