"""Public functions and classes carry docstrings (shapes, units, errors): the team's rule, issue 14.

Public: a module-level function or class whose name does not start with "_", and a method of such a
class whose name does not start with "_" (properties included; nested functions are not counted).
Every module of hub/, actors/ and jobs/ must have every one (a new module included).
`python tests/unit/test_docstrings.py` prints what each module still lacks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "actors", "jobs")
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


def test_the_walk_covers_every_package() -> None:
    found = modules()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in found, f"{package}/ not walked"
    assert "hub/core/stream.py" in found and "hub/ingress/relay.py" in found  # subpackages too


@pytest.mark.parametrize("module", modules())
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
