"""Public functions and classes carry docstrings (shapes, units, errors): the team's rule, issue 14.

Public: a module-level function or class whose name does not start with "_", and a method of such a
class whose name does not start with "_" (properties included; nested functions are not counted).
The modules in COMPLETE must have every one; more join the list as they get theirs.
`python tests/unit/test_docstrings.py` prints what each module of hub/, actors/ and jobs/ still lacks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "actors", "jobs")
COMPLETE = (
    "hub/auth.py",
    "hub/cli.py",
    "hub/client.py",
    "hub/clienttokens.py",
    "hub/core/errors.py",
    "hub/core/jobstate.py",
    "hub/core/limits.py",
    "hub/core/outbox.py",
    "hub/core/pacing.py",
    "hub/core/paging.py",
    "hub/core/protocol.py",
    "hub/core/strictjson.py",
    "hub/ingress/api.py",
    "hub/ingress/app.py",
    "hub/ingress/connection.py",
    "hub/ingress/edge.py",
    "hub/ingress/httpproto.py",
    "hub/ingress/polling.py",
    "hub/ingress/strict.py",
    "hub/ingress/ws.py",
    "hub/ingress/wsproto.py",
    "hub/logs.py",
    "hub/metrics.py",
    "hub/notebook.py",
    "hub/raycluster.py",
    "hub/server.py",
    "hub/settings.py",
    "hub/testing.py",
    *(
        f"jobs/{name}.py"
        for name in (
            "__init__",
            "context",
            "document_job",
            "documents",
            "kinds",
            "params",
            "quiz",
            "quiz_job",
            "samples",
            "tasks",
            "words",
        )
    ),
)

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def undocumented(path: Path) -> list[str]:
    """The public definitions in `path` without a docstring, as `name` or `Class.method` with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    missing = []
    for node in tree.body:
        if not isinstance(node, Definition) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            missing.append(f"{node.name} (line {node.lineno})")
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    if ast.get_docstring(item) is None:
                        missing.append(f"{node.name}.{item.name} (line {item.lineno})")
    return missing


def modules() -> list[str]:
    """Every Python module of hub/, actors/ and jobs/, relative to the repository root."""
    return sorted(str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_list_names_modules_that_exist() -> None:
    assert set(COMPLETE) <= set(modules()), set(COMPLETE) - set(modules())


@pytest.mark.parametrize("module", COMPLETE)
def test_every_public_function_and_class_has_a_docstring(module: str) -> None:
    missing = undocumented(ROOT / module)
    assert not missing, f"{module}: no docstring on " + ", ".join(missing)


def test_the_walk_finds_what_it_should(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        'def f(): pass\ndef _g(): pass\nclass C:\n    """C."""\n    def m(self): pass\n'
        "    def _n(self): pass\n    @property\n    def p(self): return 1\nclass _D:\n    def m(self): pass\n"
    )
    assert [m.split()[0] for m in undocumented(source)] == ["f", "C.m", "C.p"]


if __name__ == "__main__":
    total = 0
    for name in modules():
        found = undocumented(ROOT / name)
        total += len(found)
        if found:
            print(f"{len(found):3d}  {name}: {', '.join(m.split()[0] for m in found)}")
    print(f"{total} public definitions without a docstring")
    sys.exit(0)
