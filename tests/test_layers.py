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


# ------------------------------------------------------------------ cycles

def _module_name(path: Path) -> str:
    """``imsim.datasets.idx`` for src/imsim/datasets/idx.py, ``imsim.engine`` for its __init__.py."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_submodule(package: str, name: str) -> bool:
    """Whether ``from package import name`` imports a module (a .py file, a package, or a
    compiled extension such as distances/_l1kernel) rather than a name of the package."""
    folder = SRC.parent.joinpath(*package.split("."))
    return (folder / f"{name}.py").exists() or (folder / name).is_dir() or any(folder.glob(f"{name}.*"))


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """Module -> the imsim modules it imports, from every import statement of its source:
    at the top, inside functions (they run on the first call) and under
    ``if TYPE_CHECKING:`` alike. A deferred import that dodges a cycle at import time is
    still a cycle between the modules, so it counts. ``from pkg import name`` imports
    ``pkg.name`` when that is a module, else ``pkg`` (its ``__init__``). A module's own
    package ``__init__`` runs before it anyway; only an explicit import of it counts."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "imsim":
                    continue
                for alias in node.names:
                    targets.add(f"{module}.{alias.name}" if _is_submodule(module, alias.name) else module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "imsim"}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    assert "imsim.datasets.image" in graph and "imsim.distances.kernels" in graph
    problems = [" <-> ".join(c) + ": " + "; ".join(f"{m} imports {sorted(graph[m] & set(c))}" for m in c)
                for c in _cycles(graph)]
    assert not problems, "import cycles:\n" + "\n".join(problems)
