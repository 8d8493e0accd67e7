"""The layering DESIGN.md asks for, checked on the source (ast, nothing imported):

- imports run one way: `hub.core` <- `jobs` <- `actors` <- the rest of `hub` (ingress, server, CLI,
  clients), counting every import, also those inside functions and `importlib.import_module("x")` /
  `__import__("x")` with a literal name;
- no import cycle among the modules an import runs (module level, outside `if TYPE_CHECKING`);
- `hub.core` imports only the standard library, pydantic and msgpack, and none of the standard
  library's clocks, event loops, threads, sockets, logging, environment or dynamic imports;
- a package's `__init__` runs whenever any module under it is imported, so it is held to the rules
  of the lowest layer under it: `hub/__init__.py` (above `hub.core`) to the core's;
- and, not trusting the parser alone: importing every `hub.core` module in a fresh interpreter loads
  no module of `jobs`, `actors` or the rest of `hub`, and not Ray.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "actors", "jobs")
LAYERS = {"hub.core": 0, "jobs": 1, "actors": 2, "hub": 3}
LAYER_NAMES = {0: "hub.core", 1: "jobs", 2: "actors", 3: "hub (ingress, server, CLI, clients)"}
CORE_THIRD_PARTY = {"pydantic", "pydantic_core", "msgpack"}
CORE_FORBIDDEN_STDLIB = {
    "asyncio",
    "logging",
    "time",
    "datetime",
    "os",
    "threading",
    "socket",
    "selectors",
    "signal",
    "subprocess",
    "multiprocessing",
    "concurrent",
    "importlib",
}
# The one import that goes up a layer, on purpose: `from jobs import connect, local_hub` is the
# notebook API the README has always shown; `jobs.__getattr__` resolves it from `hub.notebook` (a
# client) only when those names are asked for, so importing `jobs` (as every Ray worker does) never
# loads the client side.
UPWARD_ALLOWED = {("jobs", "hub.notebook")}


@dataclass(frozen=True)
class Import:
    importer: str  # module doing the import
    target: str  # module (or package) imported, absolute
    line: int
    at_import_time: bool  # module level and outside `if TYPE_CHECKING`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(name, alias.name, child.lineno, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.module == "__future__":
                    continue
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in child.names:
                    # `from pkg import mod` imports pkg.mod when it is a module of ours
                    sub = f"{base}.{alias.name}"
                    target = sub if _is_our_module(sub) else base
                    found.append(Import(name, target, child.lineno, top))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                visit(ast.Module(body=child.body, type_ignores=[]), False)
                visit(ast.Module(body=child.orelse, type_ignores=[]), top)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.Call) and (dynamic := _dynamic_import(child)) is not None:
                found.append(Import(name, dynamic, child.lineno, top))
                visit(child, top)
            else:
                visit(child, top)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


def _dynamic_import(call: ast.Call) -> str | None:
    """The module that `importlib.import_module("x")` or `__import__("x")` names, when it is a literal."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if named and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _is_our_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel.with_suffix(".py")).exists() or (ROOT / rel / "__init__.py").exists()


def layer_of(module: str) -> int | None:
    for prefix, layer in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


ALL_IMPORTS = [imp for path in source_files() for imp in imports_of(path)]
MODULES = {module_name(p) for p in source_files()}


def importer_layer(module: str) -> int | None:
    """The layer whose rules `module`'s imports follow: its own, or for a package's `__init__` (which
    runs before any module under it) the lowest layer of a module under it: `hub` -> hub.core's."""
    own = layer_of(module)
    below = [layer_of(m) for m in MODULES if m.startswith(module + ".")]
    layers = [layer for layer in (own, *below) if layer is not None]
    return min(layers) if layers else None


def upward_imports(imports: list[Import]) -> list[str]:
    """The imports that go up a layer (but UPWARD_ALLOWED), each as a sentence."""
    upward = []
    for imp in imports:
        low, high = importer_layer(imp.importer), layer_of(imp.target)
        if low is None or high is None or high <= low:
            continue
        if (imp.importer, imp.target) in UPWARD_ALLOWED:
            continue
        upward.append(
            f"{imp.importer}:{imp.line} ({LAYER_NAMES[low]}) imports {imp.target} ({LAYER_NAMES[high]}), a layer above"
        )
    return upward


def impure_core_imports(imports: list[Import]) -> list[str]:
    """The imports of the core (and of the packages above it) of anything but the standard library
    (less its clocks, loops, logging, environment, dynamic imports), pydantic, msgpack and the core."""
    bad = []
    for imp in imports:
        if importer_layer(imp.importer) != 0:
            continue
        top = imp.target.split(".")[0]
        if layer_of(imp.target) == 0:
            continue
        if top in sys.stdlib_module_names and top not in CORE_FORBIDDEN_STDLIB:
            continue
        if top in CORE_THIRD_PARTY:
            continue
        bad.append(f"{imp.importer}:{imp.line} imports {imp.target}")
    return bad


def test_the_source_tree_was_found() -> None:
    names = {module_name(p) for p in source_files()}
    assert {"hub.core.protocol", "hub.core.stream", "jobs.kinds", "actors.registry", "hub.ingress.ws"} <= names
    assert any(i.importer == "hub.ingress.relay" and i.target == "hub.core.stream" for i in ALL_IMPORTS)


def test_imports_run_one_way() -> None:
    upward = upward_imports(ALL_IMPORTS)
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if imp.at_import_time and layer_of(imp.target) is not None and imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return cycles


def test_the_core_imports_only_what_is_pure() -> None:
    bad = impure_core_imports(ALL_IMPORTS)
    assert not bad, "hub.core must import only the standard library (no clock, loop, log or environment), " + (
        "pydantic and msgpack:\n" + "\n".join(bad)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import ray\n", ["ray"]),
        ("import asyncio\n", ["asyncio"]),
        ("def f():\n    import logging\n", ["logging"]),
        ("from hub.ingress import ws\n", ["hub.ingress.ws"]),
        ("import importlib\nray = importlib.import_module('ray')\n", ["importlib", "ray"]),
        ("def f():\n    return __import__('asyncio')\n", ["asyncio"]),
    ],
)
def test_the_checker_sees_a_forbidden_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    # The rules above are only as good as the parser: a core module importing ray, asyncio,
    # logging (even inside a function) or the ingress is seen and named.
    fake = ROOT / "hub" / "core" / "_probe_for_test.py"
    try:
        fake.write_text(source)
        found = [i.target for i in imports_of(fake)]
    finally:
        fake.unlink()
    assert found == expected
    assert all(layer_of(t) != 0 for t in found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {
        "jobs.kinds": {"jobs.quiz_job"},
        "jobs.quiz_job": {"jobs.document_job"},
        "jobs.document_job": {"jobs.kinds"},
    }
    assert find_cycles(graph) == [["jobs.document_job", "jobs.kinds", "jobs.quiz_job"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_a_package_above_the_core_is_held_to_the_core_rules() -> None:
    # hub/__init__.py runs on every `import hub.core.x`: what it imports, the core imports.
    assert importer_layer("hub") == 0 and importer_layer("hub.ingress") == 3 and importer_layer("jobs") == 1
    assert upward_imports([Import("hub", "hub.notebook", 1, True)]) == [
        "hub:1 (hub.core) imports hub.notebook (hub (ingress, server, CLI, clients)), a layer above"
    ]
    assert impure_core_imports([Import("hub", "ray", 1, True)]) == ["hub:1 imports ray"]


def test_importing_the_core_loads_nothing_above_it() -> None:
    # What the parser cannot see (a name built at run time, a plugin) shows in sys.modules.
    probe = (
        "import importlib, pkgutil, sys\n"
        "import hub.core\n"
        "for m in pkgutil.iter_modules(hub.core.__path__):\n"
        "    importlib.import_module('hub.core.' + m.name)\n"
        "ours = ('hub', 'jobs', 'actors', 'ray')\n"
        "print('\\n'.join(sorted(n for n in sys.modules if n.split('.')[0] in ours\n"
        "    and n != 'hub' and not n.startswith('hub.core'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [], "importing hub.core loaded:\n" + out.stdout
