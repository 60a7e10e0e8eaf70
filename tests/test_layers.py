"""The import rules of docs/architecture (README's "Imports run one way"), checked on the source:
the delivery domain knows nothing of Temporal or of the front doors, and Temporal's activities
and workflows reach the database only through the delivery domain, never through services."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "soonish"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names (anywhere in the file)."""
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


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in (PACKAGE / layer).rglob("*.py")
        for module in imported_modules(path)
        if module.startswith(forbidden)
    )


@pytest.mark.parametrize("layer, forbidden", [
    ("domain/delivery", ("temporalio", "soonish.temporal", "soonish.services", "soonish.web", "soonish.bots")),
    ("temporal", ("soonish.services", "soonish.web", "soonish.bots")),
    ("services", ("soonish.web", "soonish.bots")),
])
def test_imports_run_one_way(layer, forbidden):
    assert violations(layer, forbidden) == []


def test_the_rule_reads_relative_imports():
    # The check itself: soonish/temporal/outbox/drain.py reaches the delivery domain by a relative import.
    assert "soonish.domain.outbox" in imported_modules(PACKAGE / "temporal" / "outbox" / "drain.py")
