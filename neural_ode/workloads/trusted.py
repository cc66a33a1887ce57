"""Which user factories may be imported: only those the user typed.

A workload value read from ``results.jsonl`` or ``sweep.json`` is data; a ``module:function``
there would import (run) code from the current directory. Such a value is accepted only when the
user named the same factory with ``--workload`` on the command line or in their own ``--config``
(the CLI calls :func:`trust_factories`); otherwise the line is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from neural_ode.workloads import WORKLOADS

_TRUSTED: set[str] = set()


def trust_factories(specs: Iterable[str]) -> None:
    """Allow the factories ``specs`` (the user's own ``--workload`` values) to be imported."""
    _TRUSTED.update(spec for spec in specs if isinstance(spec, str) and ":" in spec)


def forget_factories() -> None:
    """Forget every trusted factory (between in-process CLI calls, e.g. in tests)."""
    _TRUSTED.clear()


def is_trusted(spec) -> bool:
    """True when the user named the factory ``spec`` with ``--workload``."""
    return spec in _TRUSTED


def check_workload(value, where: str = "") -> None:
    """A ValueError unless ``value`` is a registered workload or a factory the user named."""
    if isinstance(value, str) and (value in WORKLOADS or value in _TRUSTED):
        return
    shown = repr(value)[:80]
    place = f" in {where}" if where else ""
    raise ValueError(
        f"workload {shown}{place} is not a registered workload ({', '.join(WORKLOADS)}); "
        "a user's factory is imported only when named with --workload"
    )
