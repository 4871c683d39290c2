"""The import graph keeps the house's shape (DESIGN.md): no kind imports another kind; the shared
GPU layer imports no kind; dse/output imports nothing above it; `dse validate` and the figures
reach kinds only through the registry; dse/search has no import circle; spec modules stay free of
numpy and numba. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

from dse.system.base import REGISTRY

DSE = Path(__file__).resolve().parents[1] / "dse"


def modules() -> dict[str, Path]:
    out = {}
    for path in DSE.rglob("*.py"):
        parts = path.relative_to(DSE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` counts as a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_no_kind_imports_another_kind():
    kinds = {k: f"dse.system.{k}" for k in REGISTRY}
    bad = []
    for name, path in modules().items():
        mine = next((k for k, pkg in kinds.items() if inside(name, pkg)), None)
        if mine is None:
            continue
        for imp in imports(path):
            other = next((k for k, pkg in kinds.items() if inside(imp, pkg)), None)
            if other is not None and other != mine:
                bad.append(f"{name} -> {imp}")
    assert bad == []


def test_shared_gpu_layer_imports_no_kind():
    bad = [f"{name} -> {imp}" for name, path in modules().items() if inside(name, "dse.system.gpu")
           for imp in imports(path) if any(inside(imp, f"dse.system.{k}") for k in REGISTRY)]
    assert bad == []


def test_output_imports_nothing_above_it():
    bad = [f"{name} -> {imp}" for name, path in modules().items() if inside(name, "dse.output")
           for imp in imports(path) if inside(imp, "dse") and not (inside(imp, "dse.output") or inside(imp, "dse.errors"))]
    assert bad == []


def test_validate_and_figures_know_no_kind():
    for name in ("dse.validate", "dse.output.figure", "dse.output.report"):
        path = modules()[name]
        assert not [imp for imp in imports(path) if any(inside(imp, f"dse.system.{k}") for k in REGISTRY)], name
        strings = {n.value for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not strings & set(REGISTRY), (name, strings & set(REGISTRY))


def test_search_has_no_import_circle():
    graph = {name: {imp for imp in imports(path) if inside(imp, "dse.search") and imp in modules()}
             for name, path in modules().items() if inside(name, "dse.search")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_specs_import_neither_numpy_nor_numba():
    specs = [n for n in modules() if inside(n, "dse.spec") or n.endswith(".spec")]
    assert len(specs) >= 8
    bad = [f"{name} -> {imp}" for name in specs for imp in imports(modules()[name])
           if imp.split(".")[0] in ("numpy", "numba")]
    assert bad == []


def test_numba_is_imported_only_through_dse_jit():
    """dse.jit makes numba's on-disk cache safe before any kernel is decorated; a module importing
    numba itself could decorate a kernel before that."""
    bad = [f"{name} -> {imp}" for name, path in modules().items() if name != "dse.jit"
           for imp in imports(path) if inside(imp, "numba")]
    assert bad == []
