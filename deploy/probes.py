"""Post-deploy probes: does each site still answer as it should through the front-end, and if not, revert.

The verify step of deploy.release proves that the front-end answers, not that the sites do.
`push_and_probe` wraps release.push_tree for one front-end:

1. **plan**: from this attempt's one read of the host (deploy.plan, shared with push_tree): from the
   host's live routes.map and the new one, every host name whose route changed (or is
   new) and every name removed, plus HOSTPANEL_PROBE_SAMPLE unchanged ones picked at random (seeded by the
   new tree's digest; HOSTPANEL_PROBE_SAMPLE_MAP_ONLY for a map-only change); when the map is unchanged
   (a config change), the sample alone; a host the plan finds unchanged is not probed;
2. **before**: request each through the front-end (`GET /` with its Host) while the old config still runs,
   and once a name no site claims (`hostpanel-probe.invalid`), whose answer is the catch-all vhost's;
3. push_tree (upload, swap, configtest, graceful, verify);
4. **after**: the same requests again, compared with what the new tree says should happen:
   *suspended* (Apache answers 503 itself), *redirect* (301/302/307/308 to https://), *absent* (a removed
   name: the catch-all's 404), else *proxied* (below 500, not the catch-all's answer, and no 2xx/3xx that
   became an error);
5. sites that **answered before** (a real answer, not the catch-all, below 500 or the suspended page) and
   fail after are a regression: the previous release is put back, Apache reloaded, and the host is
   `reverted` with the failing sites and their answers (a map-only change is put back by the symlink
   alone: nothing was reloaded). Other failures (a new site, a site already down)
   are reported in the output without a revert.

All probes of a round run in parallel (HOSTPANEL_PROBE_PARALLELISM), the round within HOSTPANEL_PROBE_TIMEOUT.
No database access here; the runner records the outcome.
"""

from __future__ import annotations

import posixpath
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from django.conf import settings

from balancers.choices import ChangeKind, HostStage, HostStatus
from balancers.models import FrontEnd
from deploy.plan import Target, read_plan
from deploy.release import (
    COMMAND_TIMEOUT,
    NO_HOOKS,
    VERIFY_SECONDS,
    Hooks,
    HostOutcome,
    push_tree,
    truncate,
    unreadable,
)
from deploy.transport.protocol import Transport, TransportError
from deploy.vhost_proof import UNCLAIMED_HOST  # one name no site claims, for the probes and the release proof
from hostpanel.http import HttpAnswer, http_exchange, wait_until_answers
from rendering.manifest import DIGEST
from rendering.routes import (
    ROUTES_MAP,
    ROUTES_RECENT,
    base_entries,
    changed_names,
    effective_value,
    map_entries,
    parse_route,
    sample_entries,
    whole_map,
)

REDIRECT_CODES = frozenset({301, 302, 307, 308})


@dataclass(frozen=True)
class ProbeSite:
    domain: str
    expect: str  # proxied | suspended | redirect | absent
    changed: bool


@dataclass(frozen=True)
class ProbeResult:
    site: ProbeSite
    before: HttpAnswer | None
    after: HttpAnswer
    ok: bool
    why: str
    regression: bool

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.regression else "warn")
        was = f" (was {describe(self.before)})" if self.before is not None else ""
        changed = " [changed]" if self.site.changed else ""
        return f"{mark} {self.site.domain}{changed} expect {self.site.expect}: {describe(self.after)}{was}{self.why}"


def describe(answer: HttpAnswer | None) -> str:
    if answer is None:
        return "not probed"
    if not answer.status:
        return answer.error or "no answer"
    location = answer.headers.get("Location", "")
    return f"HTTP {answer.status}" + (f" -> {location[:100]}" if location else "")


def site_address(frontend: FrontEnd) -> tuple[str, int]:
    """Where the front-end's site vhosts listen, as the panel reaches them (http_listen; '*' = its address)."""
    host, _, port = frontend.http_listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "*", "0.0.0.0", "::"):  # noqa: S104 - a wildcard listen address, not a bind
        host = frontend.address
    return host, int(port)


def expectation(value: str | None) -> str:
    """What a plain-HTTP GET of a name gets from its map value (None: the name is not in the map)."""
    route = parse_route(value) if value is not None else None
    return route.expectation if route is not None else "absent"


def plan_probes(live: dict[str, str] | None, tree: dict[str, str], *, sample: int, seed: str = "") -> list[ProbeSite]:
    """The names to probe: every name whose route is new, changed or removed, plus `sample` unchanged ones.
    `live`: the host's routing map files (routes.map and routes-recent.map), None when it has none."""
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    old_base, new_base = (live or {}).get(ROUTES_MAP), tree.get(ROUTES_MAP)
    if old_base is not None and new_base is not None and (old_base is new_base or old_base == new_base):
        return _plan_on_one_base(live or {}, tree, new_base, sample, rng)
    old_text = whole_map(live) if live else ""
    new_text = whole_map(tree)
    changed, removed = changed_names(old_text, new_text) if old_text != new_text else ([], [])
    touched = set(changed) | set(removed)
    new = map_entries("\n".join(line for line in new_text.splitlines() if line.split(" ", 1)[0] in touched))
    others = {n: v for n, v in sample_entries(new_text, sample + len(touched), rng).items() if n not in touched}
    return _plan(changed, removed, new, others, sample)


def _plan(changed, removed, new: dict[str, str], others: dict[str, str], sample: int) -> list[ProbeSite]:
    return (
        [ProbeSite(name, expectation(new.get(name)), True) for name in changed]
        + [ProbeSite(name, "absent", True) for name in removed]
        + [ProbeSite(name, expectation(value), False) for name, value in sorted(others.items())[:sample]]
    )


def _plan_on_one_base(live: dict[str, str], tree: dict[str, str], base_text: str, sample: int, rng) -> list[ProbeSite]:
    """The same plan when both maps share their base (a site's change): only the two overlays are
    compared, so it costs the overlay's size, not the map's."""
    base, names = base_entries(base_text)
    old, new = map_entries(live.get(ROUTES_RECENT, "")), map_entries(tree.get(ROUTES_RECENT, ""))
    changed: list[str] = []
    removed: list[str] = []
    after: dict[str, str] = {}
    for name in sorted(old.keys() | new.keys()):
        was, now = effective_value(old, base, name), effective_value(new, base, name)
        if was != now:
            (changed if now is not None else removed).append(name)
            if now is not None:
                after[name] = now
    touched = set(changed) | set(removed)
    others: dict[str, str] = {}
    for index in rng.sample(range(len(names)), min(len(names), (sample + len(touched)) * 3)):
        name = names[index]
        value = effective_value(new, base, name)
        if name not in touched and value is not None:
            others[name] = value
        if len(others) >= sample:
            break
    return _plan(changed, removed, after, others, sample)


def run_probes(
    address: tuple[str, int], domains: list[str], *, timeout: float, parallelism: int
) -> dict[str, HttpAnswer]:
    """GET / for each domain through the front-end, in parallel; the whole round ends within `timeout`."""
    host, port = address
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    answers: dict[str, HttpAnswer] = {}
    if not domains:
        return answers
    deadline = time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=min(parallelism, len(domains)), thread_name_prefix="probe")
    try:

        def one(domain: str) -> HttpAnswer:
            left = deadline - time.monotonic()
            if left <= 0:
                return HttpAnswer(0, {}, error="not sent: the probe round's time was up")
            return http_exchange("GET", base, host=domain, timeout=left, max_bytes=16384)

        futures = {domain: pool.submit(one, domain) for domain in domains}
        wait(futures.values(), timeout=max(deadline - time.monotonic(), 0) + 0.5)
        for domain, future in futures.items():
            done = future.done() and future.exception() is None
            answers[domain] = future.result() if done else HttpAnswer(0, {}, error=f"no answer within {timeout:g} s")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return answers


def _same(a: HttpAnswer | None, b: HttpAnswer | None) -> bool:
    return bool(a and b and a.status and a.status == b.status and a.body == b.body)


def answered(answer: HttpAnswer | None, catch_all: HttpAnswer | None) -> bool:
    """A real answer from the site's own vhost: below 500, or the suspended page (503 with Retry-After)."""
    if answer is None or not answer.status or _same(answer, catch_all):
        return False
    return answer.status < 500 or (answer.status == 503 and "Retry-After" in answer.headers)


def judge(
    site: ProbeSite, before: HttpAnswer | None, after: HttpAnswer, catch_all: HttpAnswer | None
) -> tuple[bool, str]:
    """Does the answer after the change match what the new tree says should happen? (ok, why not)"""
    if not after.status:
        return False, ""
    if site.expect == "suspended":
        return after.status == 503, "" if after.status == 503 else ": a suspended site answers 503 itself"
    if site.expect == "absent":
        ok = after.status == 404
        return ok, "" if ok else ": a removed name should get the catch-all's 404"
    if site.expect == "redirect":
        ok = after.status in REDIRECT_CODES and after.headers.get("Location", "").startswith("https://")
        return ok, "" if ok else ": expected a redirect to https://"
    if _same(after, catch_all):
        return False, ": answered by the catch-all vhost (the site's vhost is missing)"
    if after.status >= 500:
        return False, ""
    if before is not None and 0 < before.status < 400 and after.status >= 400 and not _same(before, catch_all):
        return False, f": it answered {before.status} before the change"
    return True, ""


def probe_settings() -> tuple[int, float, int]:
    return (
        int(settings.HOSTPANEL_PROBE_SAMPLE),
        float(settings.HOSTPANEL_PROBE_TIMEOUT),
        int(settings.HOSTPANEL_PROBE_PARALLELISM),
    )


def push_and_probe(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    frontend: FrontEnd,
    hooks: Hooks = NO_HOOKS,
    known: dict[str, str] | None = None,
) -> HostOutcome:
    """release.push_tree with the post-deploy probes around it (see the module docstring), both on one
    read of the host (deploy.plan). `known`: a tree the host may be serving; its routes.map is used when
    the live MANIFEST lists that very map. `hooks.before_swap`: the caller's own wait before the switch."""
    probing = settings.HOSTPANEL_PROBES
    try:
        host = read_plan(transport, target, tree, routes=probing, known=known)
    except TransportError as exc:
        return unreadable(exc)
    if not probing:
        return push_tree(transport, target, tree, plan=host, hooks=hooks)
    sample, timeout, parallelism = probe_settings()
    if host.change == ChangeKind.MAP:
        sample = min(sample, int(settings.HOSTPANEL_PROBE_SAMPLE_MAP_ONLY))
    plan = [] if host.unchanged else plan_probes(host.live_map, tree, sample=sample, seed=host.digest)
    address = site_address(frontend)
    domains = [UNCLAIMED_HOST, *(s.domain for s in plan)]
    # The "before" round runs while the release uploads (it must end before the switch, and does:
    # push_tree waits for it in before_swap); the old config serves until then.
    rounds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-before")
    try:
        early = rounds.submit(run_probes, address, domains, timeout=timeout, parallelism=parallelism) if plan else None
        before: dict[str, HttpAnswer] = {}

        def probes_before_swap() -> None:
            if early is not None and not before:
                before.update(early.result())

        def both() -> None:
            hooks.before_swap()
            probes_before_swap()

        outcome = push_tree(transport, target, tree, plan=host, hooks=replace(hooks, before_swap=both))
        probes_before_swap()  # a push that stopped before the switch still waits for its round
    finally:
        rounds.shutdown(wait=True)
    if outcome.status != HostStatus.SUCCEEDED or not plan:
        return outcome
    hooks.progress(HostStage.PROBE)
    probed_at = time.monotonic()
    after = run_probes(address, domains, timeout=timeout, parallelism=parallelism)
    outcome.timings["probes"] = time.monotonic() - probed_at  # the "before" round overlapped the upload
    catch_before, catch_after = before.get(UNCLAIMED_HOST), after[UNCLAIMED_HOST]
    results = []
    for site in plan:
        was = before.get(site.domain)
        ok, why = judge(site, was, after[site.domain], catch_after)
        results.append(ProbeResult(site, was, after[site.domain], ok, why, not ok and answered(was, catch_before)))
    regressions = [r for r in results if r.regression]
    report = f"post-deploy probes: {len(results)} site(s), {sum(r.ok for r in results)} as expected\n"
    report += "\n".join(r.line() for r in results if not r.ok or r.site.changed)
    outcome.output = truncate(f"{outcome.output}\n{report}".strip())
    if regressions:
        hooks.fence()  # a worker that lost the front-end's lease must not put anything back
        _revert(transport, target, host.link, regressions, outcome, hooks.progress)
    return outcome


def _revert(
    transport: Transport,
    target: Target,
    previous: str | None,
    regressions: list[ProbeResult],
    outcome: HostOutcome,
    progress: Callable[[str], None],
) -> None:
    """Put the previous release back and reload: the sites that answered before the change answer again."""
    failing = "; ".join(
        f"{r.site.domain}: {describe(r.after)} (was {describe(r.before)}){r.why}" for r in regressions[:20]
    )
    more = f" and {len(regressions) - 20} more" if len(regressions) > 20 else ""
    summary = f"{len(regressions)} site(s) that answered before the change fail after it: {failing}{more}"
    if previous is None:
        outcome.status, outcome.error = HostStatus.FAILED, f"{summary}. There is no previous release to put back."
        return
    outcome.stage = HostStage.RESTORE
    progress(HostStage.RESTORE)
    reload = outcome.change != ChangeKind.MAP  # a map-only release: Apache reads the previous map by itself
    # The activated-release marker says "switching" while the host is between releases, and names the
    # previous release again only once Apache reloaded it and answers (deploy.release).
    previous_digest = posixpath.basename(previous) if DIGEST.fullmatch(posixpath.basename(previous)) else ""
    outcome.activated = ""
    try:
        transport.write_file(target.marker, b"switching\n", atomic=True)
        transport.symlink_switch(target.config_dir, previous)
        result = transport.run(target.reload_command, timeout=COMMAND_TIMEOUT) if reload else None
    except TransportError as exc:
        outcome.status = HostStatus.FAILED
        outcome.error = f"{summary}. Putting the previous release back failed: {exc.message}"
        return
    if result is None:
        ok, healthy, detail = True, True, ""
    else:
        ok = result.ok
        outcome.output = truncate(f"{outcome.output}\n$ {target.reload_command}\n{result.output}".strip())
        healthy, detail = wait_until_answers(target.verify_url, VERIFY_SECONDS) if target.verify_url else (True, "")
    if ok and healthy and previous_digest:
        try:
            transport.write_file(target.marker, f"{previous_digest}\n".encode(), atomic=True)
            outcome.activated = previous_digest
        except TransportError:
            pass  # unknown: the next deployment runs configtest and reload again
    outcome.status = HostStatus.REVERTED
    if not reload:
        outcome.error = f"{summary}. The previous routing map was put back (no reload needed)."
        return
    outcome.error = f"{summary}. The previous release was put back and Apache reloaded" + (
        "." if ok and healthy else f", but the reload {'failed' if not ok else 'did not answer: ' + detail}."
    )
