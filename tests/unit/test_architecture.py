"""The shape of the project's imports: no cycles, a runtime that stays clear of the tooling, modules that import alone.

The graph is read from the source with `ast`, not by importing. Every `import x` and `from x import y`
statement counts, wherever it stands: at module level, inside functions and methods, under
`if TYPE_CHECKING:`, inside try/except; relative imports are resolved against their package. Imports by
string (`importlib.import_module("...")`) do not count. An edge goes to the deepest project module a
statement names: `from mldock.runtime import lifecycle` is an edge to mldock.runtime.lifecycle,
`from mldock.runtime.failure import Failure` to mldock.runtime.failure. Importing a submodule also runs its
parent packages' `__init__`, but that implicit step is not an edge (else every module would sit in a cycle
with its package's `__init__`). Modules are the `.py` files below a folder chain of packages (folders with
`__init__.py`) of mldock, emulators and pytest_mldock; project templates (mldock/templates) are data.
"""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mldock", "emulators", "pytest_mldock")

RUNTIME = ("mldock.runtime", "mldock.storage", "mldock.errors", "mldock.contract", "mldock", "mldock.__main__")
TOOLING = (
    "mldock.cli",
    "mldock.runners",
    "mldock.engine",
    "mldock.image",
    "mldock.project",
    "mldock.emulators",
    "mldock.harness",
    "mldock.submit",
    "emulators",
    "pytest_mldock",
)
TOOLING_LIBRARIES = (
    "docker",
    "click",
    "rich",
    "jsonschema",
    "testcontainers",
    "pytest",
    "_pytest",
    "kubernetes",
    "yaml",
)


@dataclass
class Module:
    """One module of the project: its name, file, and what it imports."""

    name: str
    path: Path
    is_package: bool
    project_imports: dict[str, int] = field(default_factory=dict)  # imported module → first line
    external_imports: dict[str, int] = field(default_factory=dict)  # top-level package → first line


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            folders = [ROOT.joinpath(*parts[:i]) for i in range(1, len(parts))]
            if not all((folder / "__init__.py").is_file() for folder in folders):
                continue  # not importable as part of the package (templates, data)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            found[name] = Module(name, path, is_package)
    return found


def _in(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _deepest(name: str, modules: dict[str, Module]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _read_imports(module: Module, modules: dict[str, Module]) -> None:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                resolved = _deepest(target, modules)
                if resolved is not None and resolved != module.name:
                    module.project_imports.setdefault(resolved, node.lineno)
            elif target:
                module.external_imports.setdefault(target.split(".")[0], node.lineno)


def _graph() -> dict[str, Module]:
    modules = _modules()
    for module in modules.values():
        _read_imports(module, modules)
    return modules


def _cycles(modules: dict[str, Module]) -> list[list[str]]:
    """One cycle (a closed path) for each strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(modules[name].project_imports):
            if target not in index:
                connect(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(modules) + 100))
    for name in sorted(modules):
        if name not in index:
            connect(name)
    return [_cycle_in(component, modules) for component in sorted(components)]


def _cycle_in(component: list[str], modules: dict[str, Module]) -> list[str]:
    """A shortest closed path through the component's first module (breadth-first inside the component)."""
    start = component[0]
    members = set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for name in frontier:
            for target in sorted(modules[name].project_imports):
                if target == start:
                    path = [name]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target in members and target not in previous:
                    previous[target] = name
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")  # Tarjan guarantees one


def _describe(path: list[str], modules: dict[str, Module]) -> str:
    steps = [
        f"{a} ({modules[a].path.relative_to(ROOT)}:{modules[a].project_imports[b]})"
        for a, b in itertools.pairwise(path)
    ]
    return " -> ".join([*steps, path[-1]])


def test_the_graph_sees_the_known_edges() -> None:
    modules = _graph()
    assert len(modules) > 50
    assert "mldock.runtime.lifecycle" in modules["mldock.runtime.train"].project_imports
    assert "mldock.runtime.train" in modules["mldock.runtime.entrypoint"].project_imports  # from ... import train
    assert "mldock.contract" in modules["mldock.runtime.environment"].project_imports
    assert not any(name.startswith("mldock.templates") for name in modules)


def test_the_cycle_finder_gives_a_closed_path() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e2"], "e2": ["e"]}
    modules = {
        name: Module(name, ROOT / f"{name}.py", False, dict.fromkeys(targets, 1)) for name, targets in edges.items()
    }
    assert _cycles(modules) == [["a", "b", "c", "a"], ["e", "e2", "e"]]


def test_no_import_cycle() -> None:
    modules = _graph()
    cycles = [_describe(cycle, modules) for cycle in _cycles(modules)]
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(cycles)


def test_the_runtime_imports_nothing_from_the_tooling() -> None:
    modules = _graph()
    runtime = sorted(name for name in modules if _in(name, RUNTIME[:2]) or name in RUNTIME[2:])
    problems: list[str] = []
    # Walk everything the runtime reaches, so a module outside both lists cannot carry tooling in.
    reached: dict[str, list[str]] = {name: [name] for name in runtime}
    queue = list(runtime)
    while queue:
        name = queue.pop()
        module = modules[name]
        where = " <- ".join(reversed(reached[name]))
        for target, line in sorted(module.project_imports.items()):
            if _in(target, TOOLING):
                problems.append(f"{module.path.relative_to(ROOT)}:{line} imports {target} (via {where})")
            elif target not in reached:
                reached[target] = [*reached[name], target]
                queue.append(target)
        for library, line in sorted(module.external_imports.items()):
            if library in TOOLING_LIBRARIES:
                problems.append(f"{module.path.relative_to(ROOT)}:{line} imports {library} (via {where})")
    assert not problems, "the runtime reaches the tooling:\n" + "\n".join(sorted(set(problems)))


_IMPORT_EACH = """
import importlib, json, sys, traceback
names, prefixes = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))
failures = {}
for name in names:
    for loaded in [m for m in sys.modules if m in prefixes or m.startswith(tuple(p + "." for p in prefixes))]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
print(json.dumps(failures))
"""


def test_each_module_imports_alone() -> None:
    """Every module imports in an interpreter where no other project module is loaded yet.

    One subprocess, a fresh start for the project's modules before each import (third-party packages stay
    loaded: some C extensions cannot be imported twice in one process).
    """
    names = sorted(_graph())
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, json.dumps(names), json.dumps(list(PACKAGES))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    failures: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "modules that do not import alone:\n" + "\n".join(f"{k}: {v}" for k, v in failures.items())
