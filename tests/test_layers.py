"""The layering of docs/DESIGN.md, checked on the source: imports parsed with ``ast``.

* Each package of ``src/imsim`` imports only packages of its own layer or earlier
  ones in the "Import order:" line of docs/DESIGN.md (no upward import).
* The top-level ``_``-modules (``_validation``, ``_threads``, ...) are the base every
  layer may use; they import no package.
* No package imports a ``_``-prefixed name or module of another package, except
  the declared internal modules below (each says so in its docstring).
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "imsim"
#: entry points above every layer: ``python -m imsim`` and the lazy public API
ENTRY = {"__main__", "__init__"}
#: internal modules other packages may import (their docstrings declare the contract)
DECLARED_INTERNAL = {"distances._shared"}


def design_layers() -> list[set[str]]:
    """The groups of the "Import order:" line, in order."""
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    m = re.search(r"Import order:(.*?)\.\s", text, re.S)
    assert m, "docs/DESIGN.md has no 'Import order:' line"
    groups = [g for g in re.split(r"→|->", m.group(1)) if g.strip()]
    return [{p.strip() for p in re.split(r"[,|]", g) if p.strip()} for g in groups]


def imports_of(path: Path) -> list[tuple[list[str], list[str], int]]:
    """(imported module as a path of names under imsim, imported names, line) per import."""
    here = list(path.relative_to(SRC).parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:
                base = here[:len(here) - node.level + 1]
                out.append((base + (node.module.split(".") if node.module else []), names,
                            node.lineno))
            elif node.module and node.module.split(".")[0] == "imsim":
                out.append((node.module.split(".")[1:], names, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "imsim":
                    out.append((a.name.split(".")[1:], [], node.lineno))
    return out


@functools.lru_cache(maxsize=1)
def package_imports() -> tuple:
    """(file, its top-level unit, imported module path, names, line) for every import of
    every module of a layer (the entry points are left out); parsed once."""
    out = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        unit = rel.parts[0].removesuffix(".py")
        if unit not in ENTRY:
            out += [(rel, unit, module, names, line) for module, names, line in imports_of(path)]
    return tuple(out)


def _targets(module: list[str], names: list[str]) -> list[list[str]]:
    """``from imsim import x`` imports the module ``x`` (or a name of imsim itself)."""
    return [module] if module else [[n] for n in names]


def test_design_names_every_package():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if not p.stem.startswith("_")}
    listed = set().union(*design_layers())
    missing = (packages | modules) - listed
    assert not missing, f"docs/DESIGN.md's import order does not place: {sorted(missing)}"


def test_no_upward_import():
    layer_of = {name: i for i, group in enumerate(design_layers()) for name in group}
    problems = []
    for rel, unit, module, names, line in package_imports():
        for target in _targets(module, names):
            other = target[0].removesuffix(".py")
            if other == unit or other.startswith("_") or other not in layer_of:
                continue  # own package, the base modules, or a name of imsim itself
            if unit.startswith("_"):
                problems.append(f"{rel}:{line}: base module imports {other}")
            elif unit in layer_of and layer_of[other] > layer_of[unit]:
                problems.append(f"{rel}:{line}: {unit} imports {other}, a later layer")
    assert not problems, "\n".join(problems)


def test_no_private_import_across_packages():
    problems = []
    for rel, unit, module, names, line in package_imports():
        if not module or module[0] == unit or module[0].startswith("_"):
            continue  # imsim itself, own package, or the base modules
        dotted = ".".join(module)
        private_module = any(part.startswith("_") for part in module[1:])
        if private_module and dotted not in DECLARED_INTERNAL:
            problems.append(f"{rel}:{line}: imports the private module imsim.{dotted}")
        elif dotted not in DECLARED_INTERNAL:
            private = [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{rel}:{line}: imports {private} from imsim.{dotted}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(DECLARED_INTERNAL))
def test_declared_internal_modules_say_so(name):
    path = SRC.joinpath(*name.split(".")).with_suffix(".py")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "internal API" in doc and "public" in doc
