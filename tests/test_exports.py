"""The lazy public names of a package (:mod:`neural_ode.exports`), and the packages that use it."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from neural_ode.exports import lazy_exports


def test_a_lazy_name_is_imported_on_first_use_then_kept(monkeypatch):
    package = types.ModuleType("lazy_package")
    monkeypatch.setitem(sys.modules, "lazy_package", package)
    package.__getattr__, package.__dir__ = lazy_exports("lazy_package", {"dumps": "json", "join": "os.path:join"})
    import json
    import os.path

    assert package.dumps is json.dumps and package.join is os.path.join
    assert vars(package)["dumps"] is json.dumps  # kept: an ordinary attribute from now on
    assert {"dumps", "join"} <= set(package.__dir__())
    with pytest.raises(AttributeError, match="module 'lazy_package' has no attribute 'loads'"):
        package.__getattr__("loads")


def test_importing_a_core_package_imports_none_of_its_exports():
    """``import neural_ode.measuring`` stays cheap: the modules behind its exports load on first use."""
    code = (
        "import sys, neural_ode.measuring, neural_ode.storage, neural_ode.data, neural_ode.fields; "
        "print(sorted(m for m in ('neural_ode.measuring.memory', 'neural_ode.storage.writer', "
        "'neural_ode.data.images', 'neural_ode.fields.odenet') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["measuring", "reporting", "storage", "data", "fields", "workloads"])
def test_every_export_of_a_core_package_resolves(package):
    import importlib

    module = importlib.import_module(f"neural_ode.{package}")
    for name in module.EXPORTS:
        assert getattr(module, name) is not None, (package, name)
