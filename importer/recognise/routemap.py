"""HostPanel's routes.map read back for the import (pure): one group per `# site <domain>` comment, each line
`name state|balancer|plone path|mode|cookie|ttl` (rendering/routes.py writes it).

Unlike rendering.routes.parse_map (which reads back what the panel itself deployed and skips what is not
its own), every line here is accounted for with its line number: a line that is not a route is an error of
its group's site, a route outside any group is reported, and the names and values are left for the plan
to validate through the models, as for every other door. Only the shape is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rendering.routes import MAX_LINE, STATES

GROUP = "# site "
_MODES = ("s", "n")


@dataclass(frozen=True)
class MapRoute:
    """One line's value, split (each field as written: the plan validates them)."""

    state: str
    balancer: str
    plone_path: str
    mode: str
    cookie: str
    ttl: int


@dataclass
class MapLine:
    name: str
    value: str
    line: int


@dataclass
class MapGroup:
    """A `# site <domain>` comment and the lines under it; errors: (line, why) of lines that are not a route."""

    domain: str
    line: int
    lines: list[MapLine] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    route: MapRoute | None = None
    route_line: int = 0


@dataclass
class ParsedMap:
    groups: list[MapGroup] = field(default_factory=list)
    stray: list[MapLine] = field(default_factory=list)  # routes before any `# site` comment
    stray_errors: list[tuple[int, str]] = field(default_factory=list)


def split_route(value: str) -> MapRoute | str:
    """The route of a value, or why it is not one."""
    fields = value.split("|")
    if len(fields) != 6:
        return f"{len(fields)} fields, not the 6 of state|balancer|plone path|mode|cookie|ttl"
    state, balancer, path, mode, cookie, ttl = fields
    if state not in STATES:
        return f"state {state[:40]!r} is none of {', '.join(STATES)}"
    if mode not in _MODES:
        return f"mode {mode[:40]!r} is neither s (single-pass) nor n (node-vhosts)"
    if not (ttl.isascii() and ttl.isdigit() and len(ttl) <= 8):
        return f"cookie lifetime {ttl[:40]!r} is not a number of seconds"
    if not (balancer and path and cookie):
        return "an empty field"
    return MapRoute(state, balancer, path, mode, cookie, int(ttl))


def parse_routes_map(text: str) -> ParsedMap:
    parsed = ParsedMap()
    group: MapGroup | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if line.startswith(GROUP):
            group = MapGroup(domain=line[len(GROUP) :].strip(), line=number)
            parsed.groups.append(group)
            continue
        words = line.split()
        if not words or words[0].startswith("#"):
            continue  # Apache skips blank and comment lines
        errors = group.errors if group is not None else parsed.stray_errors
        if len(line) > MAX_LINE:
            errors.append((number, f"longer than Apache's {MAX_LINE}-character map line (it reads it cut short)"))
            continue
        if len(words) != 2:
            errors.append((number, f"{len(words)} words, not `name value`"))
            continue
        entry = MapLine(words[0], words[1], number)
        if group is None:
            parsed.stray.append(entry)
            continue
        route = split_route(entry.value)
        if isinstance(route, str):
            group.errors.append((number, route))
        elif group.route is None:
            group.route, group.route_line = route, number
        elif route != group.route:
            group.errors.append((number, f"its route differs from the site's line {group.route_line}"))
        group.lines.append(entry)
    return parsed
