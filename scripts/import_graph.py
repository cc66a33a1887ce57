"""The import graph of neural_ode, every import counted, as Graphviz pictures: packages as floors.

An import counts wherever it is written: at the top of a module, deferred inside a function, or a
module named in a string (``"neural_ode.workloads:WORKLOADS"`` looked up with importlib, the code a
child process runs: ``"from neural_ode.x import y; ..."``); docstrings are text, not imports. The
package-level graph has one node per first-level package or module (``neural_ode.results``,
``neural_ode.axes``); the root package's own lazy exports count too.

Floors: a package with no import of another package is floor 0 (the ground floor); any other sits
one floor above the highest package it imports. Where the graph has a loop, the packages of the
loop share one floor and every arrow that does not run down (into the loop, or up) is drawn red:
those are the arrows to remove.

Usage::

    python scripts/import_graph.py                      # the working tree -> docs/import_graph.{dot,png}
    python scripts/import_graph.py --ref 2a518bc --name import_graph_before   # a commit, read with git

Writes ``OUT/NAME.dot`` and, where Graphviz's ``dot`` is installed, ``OUT/NAME.png``; prints the
floors, the loops and the arrows that run up. ``tests/test_imports.py`` checks the same walk.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: a module named by a string: ``neural_ode.x.y`` or ``neural_ode.x.y:NAME``
NAMED = re.compile(r"(neural_ode(?:\.[A-Za-z_]\w*)+)(?::[A-Za-z_]\w*)?")
#: code in a string (a child process's ``-c`` program): ``from neural_ode.x import`` / ``import neural_ode.x``
CODE = re.compile(r"(?:^|[;\n]\s*)(?:from\s+(neural_ode(?:\.\w+)+)\s+import|import\s+(neural_ode(?:\.\w+)+))")


def sources_in_tree(root: Path = ROOT) -> dict[str, tuple[str, bool]]:
    """Module name -> (source, is a package ``__init__``) of every module under ``root/neural_ode``."""
    found = {}
    for path in sorted((root / "neural_ode").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path.read_text(), package)
    return found


def sources_at(ref: str, root: Path = ROOT) -> dict[str, tuple[str, bool]]:
    """The same as :func:`sources_in_tree` for the commit ``ref`` of the repository at ``root``."""
    names = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "-r", "--name-only", ref, "neural_ode"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    found = {}
    for name in (n for n in names if n.endswith(".py")):
        text = subprocess.run(["git", "-C", str(root), "show", f"{ref}:{name}"], check=True, capture_output=True,
                              text=True).stdout  # fmt: skip
        parts = name[: -len(".py")].split("/")
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (text, package)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions (text, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def imported_names(source: str, package: str) -> list[str]:
    """Every module name ``source`` imports: import statements anywhere (deferred ones too), modules
    named in strings (``"neural_ode.x:NAME"``, ``importlib.import_module("neural_ode.x")``) and
    imports in code held in strings; ``package`` (the module's package) resolves relative imports."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(kept + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value.strip()
            if (named := NAMED.fullmatch(text)) is not None:
                names.append(named.group(1))
            names += [a or b for a, b in CODE.findall(text)]
    return names


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (see :func:`imported_names`), and the packages
    those live in (importing ``a.b.c`` runs ``a/b/__init__``), except its own ancestors and the root."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, (source, is_package) in sources.items():
        package = name if is_package else name.rsplit(".", 1)[0]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))}
        for target in imported_names(source, package):
            while target and target not in sources:
                target = target.rpartition(".")[0]
            if not target or target == name:
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):  # the target and the packages above it (not neural_ode itself)
                step = ".".join(parts[:i])
                if step in sources and step != name and step not in ancestors:
                    graph[name].add(step)
    return graph


def node_of(module: str) -> str:
    """The first-level package or module holding ``module`` (``neural_ode.results.schema`` ->
    ``neural_ode.results``); the root package is its own node."""
    return ".".join(module.split(".")[:2])


def package_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """First-level package -> the first-level packages its modules import (the root package's lazy
    exports included)."""
    packages: dict[str, set[str]] = {}
    for name, targets in import_graph(sources).items():
        here = node_of(name)
        packages.setdefault(here, set()).update(node_of(t) for t in targets if node_of(t) != here)
    if "neural_ode" in sources:
        exported = imported_names(sources["neural_ode"][0], "neural_ode")
        packages["neural_ode"].update(node_of(t) for t in exported if t.count(".") >= 1 and node_of(t) in packages)
        packages["neural_ode"].discard("neural_ode")
    return packages


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` (Tarjan), each sorted; sinks come first."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):  # the import chains are far shallower than Python's recursion limit
        if v not in index:
            visit(v)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The loops of ``graph``: its strongly connected components of more than one node."""
    return [c for c in components(graph) if len(c) > 1]


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Node -> its floor: 0 without imports, else one above the highest floor it imports; the
    nodes of a loop share a floor (the loop is one node of the condensed graph)."""
    floor: dict[str, int] = {}
    for component in components(graph):  # Tarjan emits a component after every component it reaches
        inside = set(component)
        below = [floor[w] for v in component for w in graph.get(v, ()) if w not in inside]
        for v in component:
            floor[v] = 1 + max(below) if below else 0
    return floor


def upward(graph: dict[str, set[str]], floor: dict[str, int]) -> list[tuple[str, str]]:
    """The arrows that do not run down a floor: inside a loop, or up."""
    return sorted((a, b) for a, targets in graph.items() for b in targets if floor[b] >= floor[a])


def dot(graph: dict[str, set[str]], title: str) -> str:
    """The Graphviz source of ``graph``: one row per floor (the ground floor at the bottom), arrows
    down in grey, arrows that run up or inside a loop in red."""
    floor = floors(graph)
    up = set(upward(graph, floor))
    loops = cycles(graph)
    label = f"{title}\\n{len(graph)} packages, {len(loops)} loop(s), {len(up)} arrow(s) not running down (red)"
    lines = [
        "digraph imports {",
        f'  label="{label}"; labelloc=t; fontsize=18; rankdir=BT; newrank=true; ranksep=0.9; nodesep=0.25;',
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica", fontsize=12];',
        '  edge [color="#9aa5b1", arrowsize=0.6];',
    ]
    in_loop = {v for c in loops for v in c}
    for level in sorted(set(floor.values())):
        members = sorted(v for v in graph if floor[v] == level)
        lines.append(f'  subgraph floor{level} {{ rank=same; "floor {level}" [shape=plaintext, style="", fontsize=14];')
        for v in members:
            fill = ', fillcolor="#f8d7d3"' if v in in_loop else ""
            lines.append(f'    "{v}" [label="{v.removeprefix("neural_ode.") or v}"{fill}];')
        lines.append("  }")
    levels = sorted(set(floor.values()))
    for low_, high in zip(levels, levels[1:]):
        lines.append(f'  "floor {high}" -> "floor {low_}" [style=invis];')
    # arrows point from the importer to what it imports; the floors run upward (rankdir=BT), so
    # constraint=false keeps the layout on the floors while the arrow is drawn importer -> imported
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if (a, b) in up:
                lines.append(f'  "{a}" -> "{b}" [color="#d62728", penwidth=1.6, constraint=false];')
            else:
                lines.append(f'  "{b}" -> "{a}" [dir=back];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", help="a commit to read with git instead of the working tree")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the pictures (docs/)")
    parser.add_argument("--name", default="import_graph", help="file name without suffix (import_graph)")
    args = parser.parse_args(argv)
    sources = sources_at(args.ref) if args.ref else sources_in_tree()
    graph = package_graph(sources)
    floor = floors(graph)
    title = f"neural_ode at {args.ref}" if args.ref else "neural_ode (working tree)"
    for level in sorted(set(floor.values())):
        print(f"floor {level}: {', '.join(sorted(v.removeprefix('neural_ode.') for v in graph if floor[v] == level))}")
    loops = cycles(graph)
    for loop in loops:
        print("loop:", " ".join(loop))
    up = upward(graph, floor)
    for a, b in up:
        print(f"runs up or inside a loop: {a} -> {b}")
    print(f"{len(graph)} packages, {len(loops)} loop(s), {len(up)} arrow(s) not running down; "
          f"module-level loops: {len(cycles(import_graph(sources)))}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name}.dot"
    path.write_text(dot(graph, title))
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tpng", "-Gdpi=110", str(path), "-o", str(path.with_suffix(".png"))], check=True)
        print(f"wrote {path} and {path.with_suffix('.png')}")
    else:
        print(f"wrote {path} (install graphviz for the PNG: apt-get install graphviz)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
