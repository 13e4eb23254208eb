"""Guards on the package's import graph (issue 12): no import cycles anywhere in ``lanecore/``,
and a scheduling core that imports nothing from the asyncio shell around it.

Every import counts, including those under ``if TYPE_CHECKING:`` and inside functions: a cycle
that only type checkers or a late call see is still two modules that cannot be understood, tested
or replaced one without the other.  The source is read, not imported, so these tests need no
optional dependency and see the tree whether or not the extensions are built.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lanecore"
COMPILED = ROOT / "lanecore_pyx"

pytestmark = pytest.mark.skipif(
    not (PACKAGE / "__init__.py").is_file(), reason="needs the lanecore source tree"
)

# Names Cython resolves itself for ``cimport`` (its declarations of the C library and the CPython
# API): part of the compiler, like the stdlib is part of Python.
CYTHON_BUILTINS = frozenset({"cython", "libc", "libcpp", "cpython", "posix"})


@dataclass(frozen=True)
class Import:
    """One module named by an import statement, and where that statement is."""

    target: str
    line: int


def module_name(path: Path) -> str:
    """The dotted name a file under the repository root is imported as."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_modules() -> dict[str, Path]:
    """Every module of the ``lanecore`` package, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package_of(name: str, path: Path) -> str:
    """The package a module's relative imports are resolved against."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve_relative(package: str, level: int, module: str | None) -> str:
    """The absolute name of ``from .module`` (level 1), ``from ..module`` (level 2), ..."""
    base = package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def python_imports(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every module ``name`` imports anywhere in its body, as the import system would resolve it.

    ``from pkg import sub`` names the submodule when ``pkg.sub`` is a module, else ``pkg``; an
    import of ``a.b.c`` also runs the ``__init__`` of each package on the way that is not one of
    ``name``'s own (those already run before ``name`` does).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = (
                _resolve_relative(_package_of(name, path), node.level, node.module)
                if node.level
                else node.module or ""
            )
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if (i == len(parts) or prefix not in own) and prefix != name:
                    yield Import(prefix, node.lineno)


def graph() -> dict[str, dict[str, int]]:
    """Module -> {imported lanecore module: first line importing it}."""
    modules = python_modules()
    known = set(modules)
    edges: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for imp in python_imports(name, path, known):
            if imp.target in known:
                line = edges[name].get(imp.target, imp.line)
                edges[name][imp.target] = min(line, imp.line)
    return edges


def strongly_connected(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components of the graph, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def shortest_cycle(edges: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of a component, for the failure message."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges[node]):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{component} is not strongly connected")


def describe(edges: dict[str, dict[str, int]], cycle: list[str]) -> str:
    """``a (line 3) -> b (line 9) -> a``: each module and the line importing the next one."""
    steps = [f"{a} (line {edges[a][b]})" for a, b in pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def explain(edges: dict[str, dict[str, int]], component: list[str]) -> str:
    """A component's example cycle and every import inside it (each one is a place to cut)."""
    members = set(component)
    inside = [
        f"    {a} (line {line}) imports {b}"
        for a in component
        for b, line in sorted(edges[a].items())
        if b in members
    ]
    return "\n".join(
        [
            f"{len(component)} modules import each other, "
            f"e.g. {describe(edges, shortest_cycle(edges, component))}; the imports among them:",
            *inside,
        ]
    )


def test_no_import_cycles() -> None:
    edges = graph()
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    message = "\n".join(explain(edges, c) for c in cycles)
    assert not cycles, "import cycles in lanecore/:\n" + message


def test_cycle_finder_sees_type_checking_and_function_level_imports(tmp_path: Path) -> None:
    """The graph really counts the imports that are easiest to miss."""
    edges = graph()
    # lanecore/__init__.py imports the manager; the check would be empty if nothing were found.
    assert "lanecore.manager" in edges["lanecore"]
    components = strongly_connected({"a": {"b": 1}, "b": {"a": 2}, "c": {"a": 3}})
    assert sorted(components) == [["a", "b"], ["c"]]
    assert describe({"a": {"b": 1}, "b": {"a": 2}}, ["a", "b", "a"]) == (
        "a (line 1) -> b (line 2) -> a"
    )
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from lanecore import manager\n"
        "def f() -> None:\n"
        "    from .. import events\n"
        "    from ..metrics import histogram\n"
    )
    fake = PACKAGE / "redis" / "not_a_module.py"
    tmp = tmp_path / "m.py"
    tmp.write_text(source, encoding="utf-8")
    found = {
        imp.target
        for imp in python_imports(
            module_name(fake), tmp, {"lanecore.manager", "lanecore.events", "lanecore.metrics"}
        )
    }
    # lanecore.metrics.histogram is not in the fake ``known`` set, so it resolves to the package.
    assert {"lanecore.manager", "lanecore.events", "lanecore.metrics"} <= found
    assert "lanecore" not in found  # the package's own parents never count


# --- the core imports nothing from the shell ------------------------------------------------

_STRINGS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
_COMMENT = re.compile(r"#.*$", re.MULTILINE)
_CYTHON_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<from>[\w.]+)[ \t]+c?import[ \t]+(?P<names>\([^)]*\)|[^\n]+)"
    r"|c?import[ \t]+(?P<mods>[^\n]+))",
    re.MULTILINE,
)


def _packages() -> set[str]:
    return {module_name(p.parent) for p in PACKAGE.rglob("__init__.py")} | {"lanecore_pyx"}


def cython_imports(path: Path) -> Iterator[Import]:
    """Every module a ``.pyx``/``.pxd`` file imports or cimports (read with a regex, not Cython).

    ``from pkg import name`` names ``pkg.name`` when ``pkg`` is one of our packages, else ``pkg``.
    """
    packages = _packages()
    text = _COMMENT.sub("", _STRINGS.sub(lambda m: "\n" * m.group().count("\n"), path.read_text()))
    for match in _CYTHON_IMPORT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["from"]:
            base = match["from"]
            if base not in packages:
                yield Import(base, line)
                continue
            for name in match["names"].strip("()").split(","):
                name = name.split(" as ")[0].strip()
                yield Import(f"{base}.{name}" if name and name != "*" else base, line)
        else:
            for mod in match["mods"].split(","):
                yield Import(mod.split(" as ")[0].strip(), line)


def is_core(module: str) -> bool:
    """``lanecore._coreapi``, the pure-Python twins ``lanecore._*_py``, and ``lanecore_pyx``."""
    return (
        module == "lanecore._coreapi"
        or re.fullmatch(r"lanecore\._\w+_py", module) is not None
        or module.split(".")[0] == "lanecore_pyx"
    )


def is_stdlib(module: str) -> bool:
    """A module of Python's standard library (by its top-level name)."""
    return module.split(".")[0] in sys.stdlib_module_names


def _core_python_modules() -> list[str]:
    return sorted(name for name in python_modules() if is_core(name))


def _cython_files() -> list[Path]:
    return sorted([*COMPILED.glob("*.pyx"), *COMPILED.glob("*.pxd")])


def _forbidden_python_imports(name: str, allowed: Callable[[str], bool]) -> list[str]:
    modules = python_modules()
    return [
        f"{name} (line {imp.line}) imports {imp.target}"
        for imp in python_imports(name, modules[name], set(modules))
        if not allowed(imp.target)
    ]


def test_core_modules_are_found() -> None:
    names = _core_python_modules()
    assert {"lanecore._coreapi", "lanecore._dispatch_py", "lanecore._lanetable_py"} <= set(names)
    assert "lanecore._impl" not in names
    assert {p.name for p in _cython_files()} >= {"_dispatch.pyx", "_lanetable.pxd"}
    pyx = COMPILED / "_lanetable.pyx"
    found = {imp.target for imp in cython_imports(pyx)}
    assert {"cpython.mem", "lanecore_pyx._tokenbucket", "gc"} <= found


@pytest.mark.parametrize("name", _core_python_modules())
def test_python_core_imports_only_the_core_and_stdlib(name: str) -> None:
    bad = _forbidden_python_imports(name, lambda t: is_stdlib(t) or is_core(t))
    assert not bad, "the core must not import the shell:\n" + "\n".join(bad)


def test_impl_imports_only_the_core() -> None:
    """``lanecore._impl`` chooses between the cores, so it may import those and nothing else."""
    bad = _forbidden_python_imports("lanecore._impl", lambda t: is_stdlib(t) or is_core(t))
    assert not bad, "lanecore._impl may import only the core:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in _cython_files()])
def test_compiled_core_imports_only_the_core_and_stdlib(path: Path) -> None:
    bad = [
        f"{path.name} (line {imp.line}) imports {imp.target}"
        for imp in cython_imports(path)
        if not (is_stdlib(imp.target) or is_core(imp.target))
        and imp.target.split(".")[0] not in CYTHON_BUILTINS
    ]
    assert not bad, "the compiled core must not import the shell:\n" + "\n".join(bad)
