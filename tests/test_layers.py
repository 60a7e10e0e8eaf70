"""The import rules of the architecture (README, "How it is built"), checked on the source:
- no import cycle between packages (each domain feature and each Temporal feature counts as one);
- the domain knows nothing of services, the front doors or Temporal;
- a Temporal ``types.py`` imports only the standard library, temporalio and other ``types.py``
  (the workflow sandbox passes it through), and a ``workflow.py`` only those and other workflows;
- Temporal code never reaches services or the front doors, and services never the front doors;
- only the gateway, services/temporal.py, talks to Temporal from the services;
- bench/ and loopback/ import nothing from the test suite."""
import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "soonish"
STDLIB = sys.stdlib_module_names

# The one service module that talks to Temporal, for what must be synchronous (readiness, the
# schedule repair); every other effect of an operation is an outbox row (domain/outbox.py).
GATEWAY = "soonish/services/temporal.py"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names (anywhere in the file, a function's
    own imports included); ``from x import y`` counts as importing ``x`` and ``x.y``."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def own_modules(path: Path) -> set[str]:
    """The soonish modules ``path`` imports, each as the module itself (``from soonish.x import
    name`` counts as ``soonish.x``; ``from soonish.domain import outbox`` as
    ``soonish.domain.outbox``)."""
    existing = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in imported_modules(path) if m in existing and m != "soonish"}


def sources(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def where(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def package_of(module: str) -> str:
    """The unit a cycle is counted between: each feature of the domain and of temporal (a module
    or a subpackage: soonish.domain.delivery, soonish.temporal.events, soonish.temporal.client),
    each other package (soonish.services, soonish.web, ...) and each top-level module."""
    parts = module.split(".")
    depth = 3 if parts[1:2] in (["domain"], ["temporal"]) else 2
    return ".".join(parts[:depth])


def package_imports() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for path in sources():
        source = package_of(module_name(path))
        edges[source] |= {package_of(m) for m in own_modules(path)} - {source}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of ``edges`` (Tarjan's algorithm), each a cycle or several."""
    edges = defaultdict(set, edges)
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(list(edges)):
        if node not in index:
            visit(node)
    return groups


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{where(path)} imports {module}"
        for path in sources(layer)
        for module in imported_modules(path)
        if module == forbidden or module.startswith(forbidden)
    )


def test_no_import_cycle_between_packages():
    assert cycles(package_imports()) == []


# The front doors: requests (pages and the API), chat, and mail (the bounce domain's listener).
FRONT_DOORS = ("soonish.web", "soonish.bots", "soonish.mail_in")


@pytest.mark.parametrize("layer, forbidden", [
    ("domain", ("temporalio", "soonish.temporal", "soonish.services", *FRONT_DOORS)),
    ("temporal", ("soonish.services", *FRONT_DOORS)),
    ("services", FRONT_DOORS),
])
def test_imports_run_one_way(layer, forbidden):
    assert violations(layer, forbidden) == []


def outside_the_sandbox_rule(path: Path, allowed_own: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{where(path)} imports {module}"
        for module in imported_modules(path)
        if module.split(".")[0] not in STDLIB and module.split(".")[0] != "temporalio"
        and not (module.startswith("soonish.temporal.") and module.split(".")[-1] in allowed_own)
        and not (module.startswith("soonish.temporal.") and module.rsplit(".", 1)[0].split(".")[-1] in allowed_own)
    )


def test_temporal_types_import_only_the_standard_library_and_temporalio():
    found = [line for path in PACKAGE.joinpath("temporal").rglob("types.py")
             for line in outside_the_sandbox_rule(path, ("types",))]
    assert found == []


def test_workflows_import_only_types_workflows_the_standard_library_and_temporalio():
    found = [line for path in PACKAGE.joinpath("temporal").rglob("workflow.py")
             for line in outside_the_sandbox_rule(path, ("types", "workflow"))]
    assert found == []


def test_only_the_gateway_talks_to_temporal_among_the_services():
    found = {}
    for path in sources("services"):
        reached = {m for m in own_modules(path) if m.startswith("soonish.temporal")}
        if reached and where(path) != GATEWAY:
            found[where(path)] = reached
    assert found == {}


def test_imports_inside_soonish_are_absolute():
    # One spelling per module, so moving a module is one rewrite (`from soonish.x import y`).
    relative = sorted(
        f"{where(path)}:{node.lineno}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level
    )
    assert relative == []


def test_benchmarks_and_the_shared_parts_import_nothing_from_the_test_suite():
    # bench/ and loopback/ start the same real parts the tests do; they import them from
    # loopback/, and a change to a test module can't break a benchmark.
    root = PACKAGE.parent
    found = sorted(
        f"{path.relative_to(root)}: {module}"
        for folder in ("bench", "loopback")
        for path in (root / folder).rglob("*.py")
        for module in imported_modules(path)
        if module == "tests" or module.startswith("tests.")
    )
    assert found == []


def test_the_rules_see_what_they_check():
    # The checks themselves: a cycle is found, and imports are read as modules and packages.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    drain = PACKAGE / "temporal" / "outbox" / "drain.py"
    assert "soonish.domain.outbox" in own_modules(drain)
    assert package_of("soonish.temporal.outbox.drain") == "soonish.temporal.outbox"
    assert package_of("soonish.domain.delivery.transports.smtp") == "soonish.domain.delivery"
    assert package_of("soonish.services.rsvp") == "soonish.services"
    assert package_of("soonish.config") == "soonish.config"
    assert "loopback.processes" in imported_modules(PACKAGE.parent / "bench" / "follow.py")
    assert "loopback.sinks" in imported_modules(PACKAGE.parent / "loopback" / "processes.py")
