"""Every mailbind module imports on its own, and the modules import one another without a cycle.

The graph is read from the source (every ``import`` statement, those under ``TYPE_CHECKING`` or
inside functions included), so a cycle cannot hide behind an import that only a type checker or
a late call runs. A package's ``__init__`` re-exporting its own modules is the one allowed loop:
importing ``mailbind.rules`` runs ``mailbind/__init__.py`` first, which imports ``rules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mailbind

PACKAGE = Path(mailbind.__file__).parent


def module_name(path: Path) -> str:
    """The dotted name of the module at *path* under the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    """True when *name* is a package (its module is an ``__init__.py``)."""
    return MODULES[name].name == "__init__.py"


def imported(name: str) -> set[str]:
    """The mailbind modules that the module *name* imports, by any import statement."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    base = name if is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{anchor}.{node.module}" if node.module else anchor
            else:
                source = node.module or ""
            targets = [source]
            # ``from . import _mime`` and ``from .sources import imap`` import modules.
            targets += [f"{source}.{alias.name}" for alias in node.names]
        found.update(target for target in targets if target in MODULES)
    return found


def graph() -> dict[str, set[str]]:
    """Each module's imports, without a package's imports of its own modules (re-exports)."""
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        targets = imported(name)
        if is_package(name):
            targets = {t for t in targets if not t.startswith(name + ".")}
        edges[name] = targets - {name}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of *edges* as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = walk(target)
                if found is not None:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            found = walk(node)
            if found is not None:
                return found
    return None


def test_the_graph_reads_every_module() -> None:
    """The walk finds the modules and their imports (a guard against a test that sees nothing)."""
    edges = graph()
    assert {"mailbind", "mailbind.rules", "mailbind._kinds", "mailbind.stores.sqlite"} <= set(edges)
    assert {"mailbind._kinds", "mailbind.messages", "mailbind.policy"} <= edges["mailbind.rules"]


def test_no_import_cycle() -> None:
    """No mailbind module imports, directly or through others, a module that imports it."""
    assert cycle(graph()) is None


def test_cycle_finds_a_cycle() -> None:
    """The cycle search reports a loop it is shown, so a passing check means something."""
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "name", ["mailbind._kinds", "mailbind._limits", "mailbind.errors"], ids=str
)
def test_leaf_modules_import_no_other_module(name: str) -> None:
    """The closed sets, the limits and the errors import nothing from mailbind but the errors."""
    assert imported(name) <= {"mailbind.errors"}


#: The parts of the package (docs/architecture.md), each by the prefixes of its modules' names;
#: every module not named here is the core.
RUNNERS = ("mailbind.engine", "mailbind.etl", "mailbind.calendar_sync")
#: The public Store contract suite syncs through the engine: it is test support, not an adapter.
TEST_SUPPORT = ("mailbind.testing.store_contract",)
ADAPTERS = ("mailbind.stores", "mailbind.sources", "mailbind.testing")
COMMAND_LINE = ("mailbind.cli", "mailbind.__main__")


def part(name: str) -> str:
    """Which part of the package the module *name* belongs to."""
    for label, prefixes in (
        ("runner", RUNNERS),
        ("test support", TEST_SUPPORT),
        ("adapter", ADAPTERS),
        ("command line", COMMAND_LINE),
    ):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return label
    return "core"


#: The parts each part may import, besides itself (docs/architecture.md).
ALLOWED = {
    "core": set(),
    "runner": {"core"},
    "adapter": {"core"},
    "command line": {"core", "runner", "adapter"},
    "test support": {"core", "runner", "adapter"},
}


def test_each_part_imports_only_what_it_may() -> None:
    """The core imports no runner, adapter or command line; runners and adapters import the core
    alone (the engine never an adapter, an adapter never the engine); the command line imports
    everything. These are the imports docs/architecture.md says may never exist."""
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if part(target) != part(name) and part(target) not in ALLOWED[part(name)]
    )
    assert wrong == []
    assert {part(n) for n in MODULES} == set(ALLOWED)


def test_no_import_waits_for_type_checking() -> None:
    """No mailbind module imports another mailbind module only under ``TYPE_CHECKING``."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.If)
                and "TYPE_CHECKING" in ast.unparse(node.test)
                and any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(node))
            ):
                found.append(name)
    assert found == []


def test_every_module_imports_alone() -> None:
    """Each mailbind module imports first thing in a fresh interpreter of its own."""
    names = [name for name in MODULES if name != "mailbind.__main__"]
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    failed = {}
    for name, process in running.items():
        _, stderr = process.communicate(timeout=300)
        if process.returncode != 0:
            failed[name] = stderr.strip().splitlines()[-1:]
    assert failed == {}
