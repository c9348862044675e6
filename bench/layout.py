"""The package's modules by pipeline stage, their sizes and their imports.

    python bench/layout.py [--dot]

Prints every module of `texmnist/` with its line count, grouped by stage, then the
import graph (module -> the texmnist modules it imports, at any depth of the file),
and any import that runs against the pipeline (a stage importing a later one). With
`--dot`, prints the graph in Graphviz format instead. Reads the code as text (ast),
runs none of it. `tests/test_layout.py` holds the same rules as tests.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "texmnist"
# The pipeline, in order: a module may import its own stage and the stages before it.
# `errors` (the exception types) and the package root (version, lazy exports) serve all.
STAGES = ("errors", "sources", "generate", "dataset", "repo", "evaluate", "cli")
SHARED = ("texmnist", "texmnist.errors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "texmnist"


def short(module: str) -> str:
    """The module's name inside its stage (`verify.card` for texmnist.repo.verify.card)."""
    return ".".join(module.split(".")[2:]) or module.split(".")[-1]


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The texmnist modules `module` imports (`from . import x` resolved to x if a module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != module}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(m, p, set(mods)) for m, p in mods.items()}


def backward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from an earlier stage to a later one (the pipeline's arrows run the other way)."""
    order = {s: i for i, s in enumerate(STAGES)}
    bad = []
    for src, targets in edges.items():
        for dst in targets:
            if dst in SHARED or src in SHARED:
                continue
            if order[stage(dst)] > order[stage(src)]:
                bad.append((src, dst))
    return sorted(bad)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dot", action="store_true", help="print the graph for Graphviz")
    args = p.parse_args(argv)
    edges = graph()
    if args.dot:
        print("digraph texmnist {")
        for src, targets in sorted(edges.items()):
            for dst in sorted(targets):
                print(f'  "{src}" -> "{dst}";')
        print("}")
        return 0
    mods = modules()
    for s in ("texmnist", *STAGES):
        members = [m for m in mods if stage(m) == s]
        if members:
            sizes = ", ".join(
                f"{short(m)} {len(mods[m].read_text().splitlines())}" for m in members
            )
            print(f"{s}: {sizes}")
    print()
    for src, targets in sorted(edges.items()):
        if targets:
            print(f"{src} -> {', '.join(sorted(targets))}")
    bad = backward(edges)
    print(f"\nimports against the pipeline: {len(bad)}")
    for src, dst in bad:
        print(f"  {src} -> {dst}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
