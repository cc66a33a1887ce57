"""The import structure: no loop between modules nor between sub-packages, every import counted.

An import counts wherever it is written: at the top of a module, deferred inside a function, or as
a module named in a string (``"neural_ode.workloads:WORKLOADS"`` looked up by importlib, the code
a child process runs: ``"from neural_ode.x import y; ..."``). A deferred import that dodges a
circle is still a circle. The ground floor (units, validation, errors, integrators) imports nothing
above it, and the core never imports the training and published-results wing.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neural_ode"

#: a module named by a string: ``neural_ode.x.y`` or ``neural_ode.x.y:NAME``
NAMED = re.compile(r"(neural_ode(?:\.[A-Za-z_]\w*)+)(?::[A-Za-z_]\w*)?")
#: code in a string (a child process's ``-c`` program): ``from neural_ode.x import`` / ``import neural_ode.x``
CODE = re.compile(r"(?:^|[;\n]\s*)(?:from\s+(neural_ode(?:\.\w+)+)\s+import|import\s+(neural_ode(?:\.\w+)+))")
#: the ground floor: imports nothing of the package above it
GROUND = {"neural_ode.units", "neural_ode.validation", "neural_ode.errors", "neural_ode.integrators"}
#: the wing: applications of the measuring package (the core imports none of them)
WING = {"neural_ode.training", "neural_ode.published"}
#: the front ends, above everything: they may import the wing
FRONT = {"neural_ode", "neural_ode.cli", "neural_ode.commands"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions (text, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def imported_names(path: Path, package: str) -> list[str]:
    """Every module name ``path`` imports: import statements anywhere (deferred ones too), modules
    named in strings (``"neural_ode.x:NAME"``, ``importlib.import_module("neural_ode.x")``) and
    imports in code held in strings; ``package`` resolves relative imports."""
    tree = ast.parse(path.read_text())
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


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (see :func:`imported_names`), and the packages
    those live in (importing ``a.b.c`` runs ``a/b/__init__``), except its own ancestors."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))}
        for target in imported_names(path, package):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target or target == name:
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):  # the target and the packages above it (not neural_ode itself)
                step = ".".join(parts[:i])
                if step in modules and step != name and step not in ancestors:
                    graph[name].add(step)
    return graph


def node_of(module: str) -> str:
    """The first-level package or module that holds ``module`` (``neural_ode.results.schema`` ->
    ``neural_ode.results``); the root package is its own node."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """First-level package -> the first-level packages its modules import (the root package's own
    lazy exports included)."""
    graph = import_graph() if graph is None else graph  # cached: read-only here
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        here = node_of(name)
        packages.setdefault(here, set()).update(node_of(t) for t in targets if node_of(t) != here)
    for name, path in _modules().items():  # the root's imports of its own sub-packages (lazy exports)
        if name == "neural_ode":
            packages["neural_ode"].update(node_of(t) for t in imported_names(path, name) if t.count(".") >= 1)
    packages["neural_ode"].discard("neural_ode")
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            if len(component) > 1:
                out.append(sorted(component))

    for v in list(graph):  # the package's import chains are far shallower than Python's recursion limit
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_among_the_package_modules_deferred_imports_included():
    graph = import_graph()
    assert "neural_ode.reporting.claims.paper" in graph  # the walk sees the sub-packages
    assert cycles(graph) == []


def test_no_import_circle_between_the_sub_packages_strings_and_deferred_imports_included():
    packages = package_graph()
    assert {"neural_ode.results", "neural_ode.storage", "neural_ode.workloads", "neural_ode.axes"} <= set(packages)
    assert "neural_ode.workloads" in packages["neural_ode.axes"]  # the registries the axes name by string
    assert cycles(packages) == []


def test_the_walk_counts_modules_named_in_strings_and_code_in_strings(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""Docstring: from neural_ode.docs import nothing."""\n'
        "import importlib\n"
        "def f():\n"
        '    """from neural_ode.docs2 import nothing"""\n'
        "    from neural_ode.deferred import x\n"
        '    importlib.import_module("neural_ode.by_name")\n'
        '    return "neural_ode.registry:REGISTRY", "from neural_ode.child import run; run()"\n'
    )
    names = set(imported_names(source, "neural_ode"))
    assert {"neural_ode.deferred", "neural_ode.by_name", "neural_ode.registry", "neural_ode.child"} <= names
    assert not {"neural_ode.docs", "neural_ode.docs2"} & names
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_ground_floor_imports_nothing_above_it():
    packages = package_graph()
    for floor in GROUND:
        assert packages.get(floor, set()) <= GROUND, (floor, packages.get(floor))


def test_the_core_imports_nothing_of_the_training_and_published_wing():
    packages = package_graph()
    for package, targets in packages.items():
        if package not in WING | FRONT:
            assert not targets & WING, (package, targets & WING)


def test_config_imports_no_registry_but_the_solvers_and_reporting_has_sub_packages():
    imported = import_graph()["neural_ode.config"]
    assert not imported & {"neural_ode.methods", "neural_ode.workloads", "neural_ode.measuring"}, imported
    subpackages = {p.name for p in (PACKAGE / "reporting").iterdir() if (p / "__init__.py").is_file()}
    assert {"claims", "figures", "tables", "page"} <= subpackages
