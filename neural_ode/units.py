"""The units the report and the console summary print, and the helpers that format them.

One convention everywhere (report tables, sentences, figure axes, the console summary):

* memory in megabytes, **MB = 10**6 bytes** (decimal, as disk and GPU vendors count; GB = 10**9);
* time in seconds, printed as milliseconds (ms) below one second;
* gradient errors and tolerances in ``%.2g`` / ``%g`` scientific form; ratios as ``1.4×``.
"""

from __future__ import annotations

import math

import numpy as np

#: bytes per megabyte (10**6 bytes)
MB = 1e6
#: bytes per gigabyte (10**9 bytes)
GB = 1e9
#: the unit of memory in column headings and axis labels
MEMORY_UNIT = "MB"
#: how a value that was not measured is shown
MISSING = "—"


def _short_exponent(text: str) -> str:
    return text.replace("e-0", "e-").replace("e+0", "e+")


def _missing(value) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def megabytes(value, missing: str = "—") -> str:
    """``value`` bytes as ``3.2 MB`` (three significant digits), or as GB from 10**9 bytes on."""
    if _missing(value):
        return missing
    value = float(value)
    if abs(value) >= GB:
        return f"{value / GB:.3g} GB"
    return f"{value / MB:.3g} MB"


def duration(value, missing: str = "—") -> str:
    """``value`` seconds as ``16.6 ms`` below one second, ``1.23 s`` from one second on."""
    if _missing(value):
        return missing
    value = float(value)
    if abs(value) < 1.0:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def error(value, missing: str = "—") -> str:
    """A relative error to two significant digits: ``3.3e-7``, ``1e-4``, ``0.095``, ``0``."""
    if _missing(value):
        return missing
    value = float(value)
    if value == 0 or abs(value) >= 1e-2:
        return f"{value:.2g}"
    # numpy leaves the point of a rounded-off zero (1.04e-6 -> "1.e-6"): drop it, as the docstring shows
    return np.format_float_scientific(value, precision=1, trim="-", exp_digits=1).replace(".e", "e")


def tolerance(value, missing: str = "—") -> str:
    """A tolerance or error target: ``1e-5`` for a power of ten, else ``3e-5`` / ``0.25`` (two digits)."""
    if _missing(value):
        return missing
    value = float(value)
    if value > 0:
        exponent = round(math.log10(value))
        if math.isclose(value, 10.0**exponent, rel_tol=1e-9) and not 0 <= exponent <= 2:
            return f"1e{exponent}"
    return _short_exponent(f"{value:.2g}")


def ratio(value, missing: str = "—") -> str:
    """A ratio as ``1.4×`` (two significant digits)."""
    return missing if _missing(value) else f"{float(value):.2g}×"


def cost(criterion: str, value, missing: str = "—") -> str:
    """A cost of ``criterion`` (``time`` in seconds, ``memory`` in bytes) in its display unit."""
    return duration(value, missing) if criterion == "time" else megabytes(value, missing)


__all__ = ["GB", "MB", "MEMORY_UNIT", "MISSING", "cost", "duration", "error", "megabytes", "ratio", "tolerance"]
