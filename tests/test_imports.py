"""The import structure: no loop between modules nor between sub-packages, every import counted.

An import counts wherever it is written: at the top of a module, deferred inside a function, or as
a module named in a string (``"neural_ode.workloads:WORKLOADS"`` looked up by importlib, the code
a child process runs: ``"from neural_ode.x import y; ..."``). A deferred import that dodges a
circle is still a circle. The ground floor (units, validation, errors, integrators) imports nothing
above it, and the core never imports the wing (``neural_ode.apps``: training and published results),
which in turn takes from the core only what its packages export (their ``__init__``) and the
top-level modules, never a module inside a core package. The walk is
``scripts/import_graph.py``'s, which also draws the graph (docs/import_graph.png).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neural_ode"

#: the ground floor: imports nothing of the package above it
GROUND = {"neural_ode.units", "neural_ode.validation", "neural_ode.errors", "neural_ode.integrators",
          "neural_ode.exports"}
#: the wing: applications of the measuring package (the core imports none of them)
WING = {"neural_ode.apps"}
#: the front ends, above everything: they may import the wing
FRONT = {"neural_ode", "neural_ode.__main__", "neural_ode.cli", "neural_ode.commands"}


def _walk():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


walk = _walk()


@functools.cache
def _sources():
    return walk.sources_in_tree(ROOT)


@functools.cache
def _modules() -> dict[str, set[str]]:
    return walk.import_graph(_sources())


@functools.cache
def _packages() -> dict[str, set[str]]:
    return walk.package_graph(_sources())


def test_no_import_circle_among_the_package_modules_deferred_imports_included():
    graph = _modules()
    assert "neural_ode.reporting.claims.paper" in graph  # the walk sees the sub-packages
    assert walk.cycles(graph) == []


def test_no_import_circle_between_the_sub_packages_strings_and_deferred_imports_included():
    packages = _packages()
    assert {"neural_ode.results", "neural_ode.storage", "neural_ode.workloads", "neural_ode.axes"} <= set(packages)
    assert "neural_ode.workloads" in packages["neural_ode.axes"]  # the registries the axes name by string
    assert walk.cycles(packages) == []
    floor = walk.floors(packages)
    assert walk.upward(packages, floor) == []  # every arrow runs down a floor


def test_the_walk_counts_modules_named_in_strings_and_code_in_strings():
    source = (
        '"""Docstring: from neural_ode.docs import nothing."""\n'
        "import importlib\n"
        "def f():\n"
        '    """from neural_ode.docs2 import nothing"""\n'
        "    from neural_ode.deferred import x\n"
        "    from . import sibling\n"
        '    importlib.import_module("neural_ode.by_name")\n'
        '    return "neural_ode.registry:REGISTRY", "from neural_ode.child import run; run()"\n'
    )
    names = set(walk.imported_names(source, "neural_ode.here"))
    assert {"neural_ode.deferred", "neural_ode.by_name", "neural_ode.registry", "neural_ode.child"} <= names
    assert "neural_ode.here.sibling" in names
    assert not {"neural_ode.docs", "neural_ode.docs2"} & names


def test_loops_and_floors_on_a_small_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert walk.cycles(graph) == [["a", "b", "c"]]
    floor = walk.floors(graph)
    assert floor == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 0}
    assert walk.upward(graph, floor) == [("a", "b"), ("b", "c"), ("c", "a")]


def test_the_ground_floor_imports_nothing_above_it():
    packages = _packages()
    for floor in GROUND:
        assert packages.get(floor, set()) <= GROUND, (floor, packages.get(floor))


def test_the_core_imports_nothing_of_the_training_and_published_wing():
    packages = _packages()
    assert {"neural_ode.apps.training", "neural_ode.apps.published"} <= set(_modules())  # the wing is walked
    assert not {"neural_ode.training", "neural_ode.published"} & set(_modules())  # no longer in the core
    for package, targets in packages.items():
        if package not in WING | FRONT:
            assert not targets & WING, (package, targets & WING)


def test_the_wing_uses_only_the_public_api_of_the_core():
    """An app imports a core package (its ``__init__``'s exports) or a top-level module
    (``neural_ode.config``), never a module inside a core package (``neural_ode.measuring.memory``)."""
    reached = {}
    for module, targets in _modules().items():
        if module.startswith("neural_ode.apps."):
            private = {t for t in targets if not t.startswith("neural_ode.apps") and t.count(".") > 1}
            if private:
                reached[module] = sorted(private)
    assert reached == {}


def test_config_imports_no_registry_but_the_solvers_and_reporting_has_sub_packages():
    imported = _modules()["neural_ode.config"]
    assert not imported & {"neural_ode.methods", "neural_ode.workloads", "neural_ode.measuring"}, imported
    subpackages = {p.name for p in (PACKAGE / "reporting").iterdir() if (p / "__init__.py").is_file()}
    assert {"claims", "figures", "tables", "page"} <= subpackages
