"""A failed cell is a result: exceptions become a status and a message."""

from __future__ import annotations

import torch

from neural_ode.measuring.counting import CellTimeout

#: every status a record may carry, with its meaning
STATUSES: dict[str, str] = {
    "ok": "measured",
    "out_of_memory": "the allocator ran out of memory (CPU or CUDA)",
    "step_size_underflow": "the adaptive solver's step size underflowed (tolerance beyond the dtype's reach)",
    "too_many_steps": "the adaptive solver exceeded max_num_steps",
    "non_finite": "NaN or infinity in the state, loss or gradient",
    "timeout": "the cell ran past its time budget",
    "crashed": "the process measuring the cell died (signal or abnormal exit)",
    "error": "any other exception, named in `error`",
}


class NonFiniteError(ArithmeticError):
    """A state, loss or gradient holds NaN or infinity."""


def classify(exc: BaseException) -> tuple[str, str]:
    """The status of a cell that raised ``exc``, and a one-line message."""
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    text = str(exc)
    if isinstance(exc, CellTimeout):
        return "timeout", message
    if isinstance(exc, torch.OutOfMemoryError | MemoryError) or _is_oom_message(text):
        return "out_of_memory", message
    if isinstance(exc, NonFiniteError) or "non-finite" in text or "underflow in dt nan" in text:
        return "non_finite", message
    if "underflow in dt" in text:
        return "step_size_underflow", message
    if "max_num_steps exceeded" in text:
        return "too_many_steps", message
    return "error", message


def _is_oom_message(text: str) -> bool:
    """CUDA says "out of memory"; the CPU allocator says "can't allocate memory"."""
    text = text.lower()
    return "out of memory" in text or "can't allocate memory" in text
