"""Straight-line Python for Runge-Kutta steps: the weighted sums a tableau asks for, and their
compilation once per process.

The lean core's fixed-grid step, its adaptive stages and own-adjoint's backward step are each
generated per tableau as straight-line code (no loop, list or lookup per step). They share the one
arithmetic pattern written here, ``target = start + sum(coef * dt * k_j)`` as one ``torch.add``
and then ``add_`` per further term, so that every generator makes the same operations in the same
order (and so the same rounding) as the readable loops they replace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

_COMPILED: dict[str, Callable] = {}


def sum_lines(target: str, start: str | None, k: str, terms: Sequence[tuple[int, float]], dt: str, out: str = ""):
    """Source lines (indented once) of ``target = start + sum(coef * dt * k_j for j, coef in terms)``.

    ``k`` names term j as ``k.format(j)`` (``"k{}"``, ``"k{}[0]"``); ``dt`` is the name of the step
    (each alpha is ``coef * dt``, a Python float); ``start`` None: the sum alone, its first term
    ``k_j * (coef * dt)``; ``out`` (e.g. ``", out=out"``) goes into the first ``torch.add``.
    """
    (j, coef), rest = terms[0], terms[1:]
    name = k.format(j)
    first = f"torch.add({start}, {name}, alpha={coef!r} * {dt}{out})" if start else f"{name} * ({coef!r} * {dt})"
    rest_lines = [f"    {target}.add_({k.format(j)}, alpha={coef!r} * {dt})" for j, coef in rest]
    return [f"    {target} = {first}", *rest_lines]


def compiled(source: str, label: str, name: str, **names) -> Callable:
    """The function ``name`` that ``source`` defines, compiled once per process for each source.

    ``source`` sees ``torch`` and ``names``; ``label`` names it in tracebacks (``<lean step rk4>``).
    The sources are the project's own (generated from tableaux), never read from a file.
    """
    function = _COMPILED.get(source)
    if function is None:
        namespace = {"torch": torch, **names}
        exec(compile(source, label, "exec"), namespace)  # noqa: S102
        function = _COMPILED[source] = namespace[name]
    return function


__all__ = ["compiled", "sum_lines"]
