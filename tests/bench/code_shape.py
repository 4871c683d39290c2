"""The shape of the code (on demand; prints, asserts nothing): the longest functions and those with
the most parameters under dse/, to compare a refactoring's before and after.

    python tests/bench/code_shape.py [ROOT] [--top N]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def functions(root: Path):
    for path in sorted((root / "dse").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                params = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                params -= 1 if args.args and args.args[0].arg in ("self", "cls") else 0
                jit = any("njit" in ast.unparse(d) or "jit" in ast.unparse(d) for d in node.decorator_list)
                yield (node.end_lineno - node.lineno + 1, params, f"{path.relative_to(root)}:{node.name}", jit)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    found = list(functions(Path(args.root)))
    print(f"{len(found)} functions under {args.root}/dse")
    print("longest (lines, parameters, numba kernel):")
    for lines, params, name, jit in sorted(found, key=lambda f: -f[0])[:args.top]:
        print(f"  {lines:4d} {params:3d} {'jit' if jit else '   '} {name}")
    print("most parameters:")
    for lines, params, name, jit in sorted(found, key=lambda f: (-f[1], -f[0]))[:args.top]:
        print(f"  {params:3d} {lines:4d} {'jit' if jit else '   '} {name}")


if __name__ == "__main__":
    main()
