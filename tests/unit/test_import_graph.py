"""The layering DESIGN.md asks for, checked on the source (ast, nothing imported):

- imports run one way: `hub.core` <- `jobs` <- `actors` <- the rest of `hub` (ingress, server, CLI,
  clients), counting every import, also those inside functions;
- no import cycle among the modules an import runs (module level, outside `if TYPE_CHECKING`);
- `hub.core` imports only the standard library, pydantic and msgpack, and none of the standard
  library's clocks, event loops, threads, sockets, logging or environment.
"""

from __future__ import annotations

import ast
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
            else:
                visit(child, top)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


def _is_our_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel.with_suffix(".py")).exists() or (ROOT / rel / "__init__.py").exists()


def layer_of(module: str) -> int | None:
    for prefix, layer in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


ALL_IMPORTS = [imp for path in source_files() for imp in imports_of(path)]


def test_the_source_tree_was_found() -> None:
    names = {module_name(p) for p in source_files()}
    assert {"hub.core.protocol", "hub.core.stream", "jobs.kinds", "actors.registry", "hub.ingress.ws"} <= names
    assert any(i.importer == "hub.ingress.relay" and i.target == "hub.core.stream" for i in ALL_IMPORTS)


def test_imports_run_one_way() -> None:
    upward = []
    for imp in ALL_IMPORTS:
        low, high = layer_of(imp.importer), layer_of(imp.target)
        if low is None or high is None or high <= low:
            continue
        if (imp.importer, imp.target) in UPWARD_ALLOWED:
            continue
        upward.append(
            f"{imp.importer}:{imp.line} ({LAYER_NAMES[low]}) imports {imp.target} ({LAYER_NAMES[high]}), a layer above"
        )
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
    bad = []
    for imp in ALL_IMPORTS:
        if layer_of(imp.importer) != 0:
            continue
        top = imp.target.split(".")[0]
        if layer_of(imp.target) == 0:
            continue
        if top in sys.stdlib_module_names and top not in CORE_FORBIDDEN_STDLIB:
            continue
        if top in CORE_THIRD_PARTY:
            continue
        bad.append(f"{imp.importer}:{imp.line} imports {imp.target}")
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
