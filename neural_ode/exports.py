"""A package's public names, imported on first use (PEP 562): the API the applications use.

A sub-package lists what it offers beyond itself in one table, ``public name -> "module"`` or
``"module:attribute"`` (when the module calls it otherwise), and takes its ``__getattr__`` and
``__dir__`` from :func:`lazy_exports`::

    __getattr__, __dir__ = lazy_exports(__name__, {"saved_bytes": "neural_ode.measuring.memory"})

``from neural_ode.measuring import saved_bytes`` then imports :mod:`neural_ode.measuring.memory`
only then: importing the package itself stays cheap, and no module of the package has to be
imported in an order the table chose. This module imports nothing of the package (ground floor).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` of the package named ``package``, whose public names ``table`` maps
    to ``"module"`` (the same name there) or ``"module:attribute"``."""

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = table[name].partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        setattr(sys.modules[package], name, value)  # once: the next lookup is an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *table})

    return __getattr__, __dir__
