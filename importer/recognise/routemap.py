"""HostPanel's routes.map read back for the import (pure): one group per `# site <domain>` comment, each line
`name state|balancer|plone path|mode|cookie|ttl[|options]` (rendering/routes.py writes it). The site options
follow the six fields only when set, each once and in this order: `e` (this line is the site's edit host),
`z=s`/`z=b` (management interface staff only / blocked), `m=PUT,...` (blocked methods), `p=/icons/,...`
(pass-through paths). The edit host's line is the group's `edit_host`, not one of its names.

Unlike rendering.routes.parse_map (which reads back what the panel itself deployed and skips what is not
its own), every line here is accounted for with its line number: a line that is not a route is an error of
its group's site, a route outside any group is reported, and the names and values are left for the plan
to validate through the models, as for every other door. Only the shape is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    # site options (sites.Site), as written (the plan validates them)
    manage_access: str = "public"
    blocked_methods: tuple[str, ...] = ()
    passthrough_paths: tuple[str, ...] = ()
    edit_host: bool = False  # the line of the site's edit host
    # the site's kind (sites.Site.kind): `v=FRONT` Volto (then `c=SEGMENT`, its Classic UI path), `f=FRONT`
    # frontend only; as written (the plan validates them)
    kind: str = "classic"
    frontend_balancer: str = ""
    classic_ui_path: str = ""


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
    edit_host: MapLine | None = None  # the line flagged `e`: the site's edit host (not among `lines`)


@dataclass
class ParsedMap:
    groups: list[MapGroup] = field(default_factory=list)
    stray: list[MapLine] = field(default_factory=list)  # routes before any `# site` comment
    stray_errors: list[tuple[int, str]] = field(default_factory=list)


_MANAGE = {"z=s": "staff", "z=b": "blocked"}
_OPTION_ORDER = ("e", "z", "m", "p", "v", "c")  # f= takes v='s place (one kind per site)


def _options(fields: list[str]) -> dict | str:
    """The site options of a value's fields after the sixth, or why they are not options."""
    found: dict = {}
    last = -1
    for option in fields:
        kind = "e" if option == "e" else option[:1] if option[1:2] == "=" else ""
        kind = "v" if kind == "f" else kind
        if kind not in _OPTION_ORDER:
            return f"{option[:40]!r} is not a site option (e, z=, m=, p=, v=, f= or c=)"
        if kind == "c" and found.get("kind") != "volto":
            return f"{option[:40]!r}: a Classic UI path follows v= (a Volto site) only"
        if _OPTION_ORDER.index(kind) <= last:
            return f"site option {option[:40]!r} is repeated or out of order (e, z=, m=, p=)"
        last = _OPTION_ORDER.index(kind)
        if kind == "e":
            found["edit_host"] = True
        elif kind == "z":
            if option not in _MANAGE:
                return f"{option[:40]!r}: the management interface is z=s (staff) or z=b (blocked)"
            found["manage_access"] = _MANAGE[option]
        elif not option[2:]:
            return f"site option {option[:40]!r} is empty"
        elif kind == "v":
            found["kind"] = "volto" if option[0] == "v" else "frontend_only"
            found["frontend_balancer"] = option[2:]
        elif kind == "c":
            found["classic_ui_path"] = "/" + option[2:]
        else:
            found["blocked_methods" if kind == "m" else "passthrough_paths"] = tuple(option[2:].split(","))
    return found


def split_route(value: str) -> MapRoute | str:
    """The route of a value, or why it is not one."""
    fields = value.split("|")
    if len(fields) < 6:
        return f"{len(fields)} fields, not the 6 of state|balancer|plone path|mode|cookie|ttl"
    options = _options(fields[6:])
    if isinstance(options, str):
        return options
    state, balancer, path, mode, cookie, ttl = fields[:6]
    if state not in STATES:
        return f"state {state[:40]!r} is none of {', '.join(STATES)}"
    if mode not in _MODES:
        return f"mode {mode[:40]!r} is neither s (single-pass) nor n (node-vhosts)"
    if not (ttl.isascii() and ttl.isdigit() and len(ttl) <= 8):
        return f"cookie lifetime {ttl[:40]!r} is not a number of seconds"
    if not (balancer and path and cookie):
        return "an empty field"
    return MapRoute(state, balancer, path, mode, cookie, int(ttl), **options)


def parse_routes_map(text: str) -> ParsedMap:
    parsed = ParsedMap()
    group: MapGroup | None = None
    edit_routes: dict[int, MapRoute] = {}
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
        elif route.edit_host:
            if group.edit_host is not None:
                group.errors.append((number, f"a second edit host (the first is on line {group.edit_host.line})"))
            else:
                group.edit_host = entry
                edit_routes[id(group)] = route
            continue
        elif group.route is None:
            group.route, group.route_line = route, number
        elif route != group.route:
            group.errors.append((number, f"its route differs from the site's line {group.route_line}"))
        group.lines.append(entry)
    for each in parsed.groups:  # the edit host routes to the site's Plone site with the site's options
        edit = edit_routes.get(id(each))
        if edit is None or each.edit_host is None or each.route is None:
            continue
        expected = replace(each.route, state=edit.state, edit_host=True)
        if edit != expected or (edit.state == "suspended") != (each.route.state == "suspended"):
            each.errors.append(
                (each.edit_host.line, f"the edit host's route differs from the site's line {each.route_line}")
            )
    return parsed
