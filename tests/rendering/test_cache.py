"""Every memo of the hot path (snapshot -> render -> push) lives in rendering.cache, under its one rule, and
cache.clear() drops them all."""

from __future__ import annotations

import ast
from pathlib import Path

from deploy.trees import render_for
from rendering import cache
from rendering.render import render_tree_isolated
from rendering.routes import ROUTES_MAP
from rendering.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
HOT_PATH = ("rendering", "deploy")
EMPTY_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "WeakKeyDictionary", "WeakValueDictionary"}


def starts_empty(value: ast.expr | None) -> bool:
    """A container that starts empty: what a memo looks like (a constant table is written out in full)."""
    if isinstance(value, ast.Dict | ast.List | ast.Set):
        return not (value.keys if isinstance(value, ast.Dict) else value.elts)
    if isinstance(value, ast.Call):
        name = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", "")
        return name in EMPTY_CALLS
    return False


def memo_like(path: Path) -> list[str]:
    """What in a module looks like a memo of its own: a module-level container that starts empty, a
    `global` statement, or an lru_cache/cache decorator."""
    found = []
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and starts_empty(node.value):
            found.append(f"{path.name}:{node.lineno} module-level {ast.unparse(node)[:60]}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.append(f"{path.name}:{node.lineno} global {', '.join(node.names)}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if "lru_cache" in text or text in {"cache", "functools.cache"}:
                    found.append(f"{path.name}:{node.lineno} @{text}")
    return found


def test_no_module_of_the_hot_path_keeps_a_memo_of_its_own():
    found = {
        str(path.relative_to(ROOT)): memos
        for package in HOT_PATH
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "rendering" / "cache.py" and (memos := memo_like(path))
    }
    assert found == {}


def test_the_renderer_asks_the_cache_not_the_snapshot_readers_registry():
    for name in ("render", "sites", "isolation", "routes", "manifest", "values"):
        tree = ast.parse((ROOT / "rendering" / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "rendering.journal" not in imported, name


def test_clear_drops_every_memo_and_the_next_snapshot_reads_every_site(demo, frontend):
    first = load_snapshot()
    render_tree_isolated(first, first.frontend(frontend.name))
    assert load_snapshot().delta is not None  # incremental: the site cache was used
    assert cache.SITE_CACHE.entries() and cache.SITES.entries() and cache.CONTEXTS.entries()
    assert cache.SITE_PARTS.only() is not None and cache.genuine(first.generation, first.sites)

    cache.clear()

    assert not any(memo.entries() for memo in cache._MEMOS)
    assert all(function.cache_info().currsize == 0 for function in cache._FUNCTIONS)
    assert not cache.genuine(first.generation, first.sites)
    again = load_snapshot()
    assert again.delta is None and again.sites == first.sites
    assert again.sites[0] is not first.sites[0]  # built anew, not interned from before
    tree = render_tree_isolated(again, again.frontend(frontend.name)).tree
    assert tree[ROUTES_MAP] == render_tree_isolated(first, first.frontend(frontend.name)).tree[ROUTES_MAP]


def test_a_memo_keeps_only_the_newest_entries_it_is_told_to():
    memo = cache.Memo("test", "numbers")
    try:
        for number in range(10):
            memo.put(number, str(number), keep=4)
        assert list(memo.entries()) == [6, 7, 8, 9]
        memo.put(7, "again", keep=4)  # put again: the newest
        assert list(memo.entries()) == [6, 8, 9, 7]
        memo.replace({1: "one"})
        assert memo.only() == "one"
    finally:
        cache._MEMOS.remove(memo)


def test_a_tree_kept_for_a_frontend_is_not_reused_once_its_apache_facts_change(demo, frontend):
    """The front-end's facts (mod_proxy_hcheck loaded) are part of its record, so of the render memo's key:
    the deployer's tree follows the connection test without anything having to invalidate it."""
    before = render_for(frontend)
    assert "hcmethod=" not in before["balancers.conf"]
    assert render_for(frontend) == before  # the same snapshot: the kept tree
    frontend.apache_facts = {"checked_at": "2026-12-07T12:00:00+00:00", "modules": ["proxy_hcheck"]}
    frontend.save(update_fields=["apache_facts"])
    after = render_for(frontend)
    assert "hcmethod=GET hcuri=/ hcinterval=5 hcpasses=1 hcfails=2" in after["balancers.conf"]
    assert {path for path in after if after[path] != before[path]} == {"balancers.conf", "MANIFEST"}
    frontend.apache_facts = {"checked_at": "2026-12-07T13:00:00+00:00", "modules": ["proxy"]}
    frontend.save(update_fields=["apache_facts"])
    assert render_for(frontend) == before  # the module gone: the plain tree again
