"""A failed cell is a result: exceptions become a status and a message.

The vocabulary lives on the ground floor, in :mod:`neural_ode.errors` (so the integrators can raise
it without importing the measuring layer); this module re-exports it for the measuring code.
"""

from __future__ import annotations

from neural_ode.errors import STATUSES, CellTimeout, NonFiniteError, classify

__all__ = ["STATUSES", "CellTimeout", "NonFiniteError", "classify"]
