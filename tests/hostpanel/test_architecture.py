"""The shape of the code (docs/architecture.md), checked: one direction of imports, one job per module."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "balancers",
    "sites",
    "api",
    "hostpanel",
    "certificates",
    "operations",
    "alerts",
    "metering",
    "rendering",
    "deploy",
    "status",
    "importer",
    "devrig",
)
# A module past this many lines is worth a look (a warning, not a failure): split by job, not by a counter.
WARN_LINES = 600
# Where HTTP connections may be opened: the one client; the ACME client's own (to the CA, through `acme`);
# the rig (its servers and test clients are the real parts themselves).
HTTP_OPENERS = {"hostpanel.http", "certificates.acme_client", "hostpanel.deadline"}
HTTP_MODULES = ("http.client", "urllib.request", "requests", "httpx", "urllib3")


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py") if (ROOT / app).exists() else ():
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def module_imports(path: Path) -> set[str]:
    """Modules imported at module level (a TYPE_CHECKING block is not an import at run time)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: {m for m in module_imports(path) if m in modules and m != name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = [*stack[stack.index(nxt) :], nxt]
                # a package's __init__ re-exporting its own submodules is the package's API, not a cycle
                if not all(
                    a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(cycle, cycle[1:], strict=False)
                ):
                    found.append(cycle)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle_between_the_projects_modules():
    graph = import_graph()
    assert "deploy.runner" in graph and "balancers.services.deployments" in graph
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def _importers(graph: dict[str, set[str]], prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    found = {m: sorted(d for d in deps if d.startswith(prefixes)) for m, deps in graph.items()}
    return {m: d for m, d in found.items() if d}


def test_lower_layers_never_import_the_doors_or_the_services():
    graph = import_graph()
    lower = ("deploy", "status", "rendering", "importer.reader", "importer.tokenizer", "hostpanel.http")
    doors = ("balancers.services", "balancers.selectors", "balancers.views", "api", "sites.services", "sites.views")
    upward = _importers({m: d for m, d in graph.items() if m.startswith(lower)}, doors)
    assert {m for m in graph if m.startswith("deploy.")} and upward == {}


def test_rendering_imports_no_transport_ssh_http_client_or_services():
    graph = import_graph()
    rendering = {m: d for m, d in graph.items() if m.startswith("rendering")}
    assert "rendering.render" in rendering
    forbidden = ("deploy", "status", "hostpanel.http", "paramiko", "balancers.services", "sites.services",
                 "certificates.services", "balancers.selectors", "api")  # fmt: skip
    assert _importers(rendering, forbidden) == {}
    everything = {m for m in module_imports(ROOT / "rendering" / "render.py")}
    assert not {m for m in everything if m.startswith(("django.db", "paramiko", "http.client", "socket"))}


def test_certificates_never_import_sites_services():
    graph = import_graph()
    assert _importers({m: d for m, d in graph.items() if m.startswith("certificates")}, ("sites.services",)) == {}


def test_no_certificates_module_imports_sites_services_even_inside_a_function():
    offenders = {}
    for path in (ROOT / "certificates").rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.update({node.module, *(f"{node.module}.{alias.name}" for alias in node.names)})
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        if bad := sorted(n for n in names if n == "sites.services" or n.startswith("sites.services.")):
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_only_ssh_imports_paramiko():
    users = [
        name
        for name, path in project_modules().items()
        if any(m.split(".")[0] == "paramiko" for m in module_imports(path))
    ]
    assert users == ["deploy.transport.ssh"]


def test_only_the_one_client_opens_http_connections():
    users = {
        name
        for name, path in project_modules().items()
        if not name.startswith("devrig") and any(m.startswith(HTTP_MODULES) for m in module_imports(path))
    }
    assert users <= HTTP_OPENERS, sorted(users - HTTP_OPENERS)


def test_long_modules_are_a_warning_not_a_failure():
    long = {
        name: n for name, path in project_modules().items() if (n := len(path.read_text().splitlines())) > WARN_LINES
    }
    for name, lines in sorted(long.items()):
        warnings.warn(f"{name} has {lines} lines (over {WARN_LINES}): does it have two jobs?", stacklevel=1)


def test_bench_devrig_and_product_code_never_import_tests():
    """tests/ imports the rig (devrig/), never the other way round: every module outside tests/ (the product,
    devrig/, bench/, manage.py), checked at any depth of its code, and so is a dotted path in a string (a
    settings value like a task backend is an import too; a path such as ROOT / "tests" / "fixtures" is not)."""
    outside = [
        path
        for path in ROOT.rglob("*.py")
        if not {"tests", "node_modules"} & set(path.relative_to(ROOT).parts)
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    ]
    assert ROOT / "bench" / "deploy.py" in outside and ROOT / "devrig" / "fleet.py" in outside
    offenders = {}
    for path in outside:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                dotted = "." in node.value and all(part.isidentifier() for part in node.value.split("."))
                names = [node.value] if dotted else []
            else:
                continue
            if bad := [n for n in names if n == "tests" or n.startswith("tests.")]:
                offenders.setdefault(str(path.relative_to(ROOT)), []).extend(bad)
    assert offenders == {}
