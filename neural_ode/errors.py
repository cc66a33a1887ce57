"""Every failure the package names, on the ground floor: anything may import this module, and it
imports nothing of the package (nor torch: the command line
loads it only when it measures).

Two kinds of failure:

* a cell that fails is a result, not a crash: :func:`classify` turns the exception into one of
  :data:`STATUSES` and a one-line message. Our own integrators and the code around them raise
  typed exceptions (:class:`CellTimeout`, :class:`NonFiniteError`, :class:`StepSizeUnderflow`,
  :class:`TooManySteps`), so their status comes from the type, as diffrax's ``RESULTS`` do.
  torchdiffeq raises ``AssertionError`` with a message; only those messages are matched as text.
* bad input stops before anything runs: :class:`UsageError` (a value on the command line or in a
  file the user gave), :class:`ConfigError` (a cell that cannot be measured), :class:`BadRecord`
  (a line of ``results.jsonl`` that is not a cell record). Each is a ``ValueError`` whose message
  names what is wrong and what is allowed; the command line prints it and exits with status 2.
"""

from __future__ import annotations

import sys

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


class UsageError(ValueError):
    """Bad input from the user: printed as one line on stderr, exit status 2."""


class ConfigError(ValueError):
    """A cell configuration that cannot be measured; the message says what is allowed."""


class BadRecord(ValueError):
    """A line that is not a valid cell record; the message names the field and what is allowed."""


class CellTimeout(Exception):
    """The cell ran past its ``timeout_s`` (status ``timeout``)."""


class NonFiniteError(ArithmeticError):
    """A state, loss or gradient holds NaN or infinity (status ``non_finite``)."""


class SolverFailure(RuntimeError):
    """An adaptive solve that stopped short; the subclass says why."""


class StepSizeUnderflow(SolverFailure):
    """The step size fell below what the dtype resolves (status ``step_size_underflow``)."""


class TooManySteps(SolverFailure):
    """The solve took ``max_num_steps`` accepted plus rejected steps (status ``too_many_steps``)."""


#: the status of each typed failure, checked in this order (the first ``isinstance`` wins)
TYPED: tuple[tuple[type[BaseException], str], ...] = (
    (CellTimeout, "timeout"),
    (MemoryError, "out_of_memory"),
    (NonFiniteError, "non_finite"),
    (StepSizeUnderflow, "step_size_underflow"),
    (TooManySteps, "too_many_steps"),
)

#: torchdiffeq's failures, which are ``AssertionError``s known only by their text: (text, status),
#: the first contained text wins ("underflow in dt nan": the step size itself became NaN)
TORCHDIFFEQ_MESSAGES: tuple[tuple[str, str], ...] = (
    ("underflow in dt nan", "non_finite"),
    ("underflow in dt", "step_size_underflow"),
    ("max_num_steps exceeded", "too_many_steps"),
)


def classify(exc: BaseException) -> tuple[str, str]:
    """The status (a key of :data:`STATUSES`) of a cell that raised ``exc``, and a one-line message.

    The type decides (:data:`TYPED`, and ``torch.OutOfMemoryError``); an allocator's out-of-memory ``RuntimeError`` and
    torchdiffeq's messages (:data:`TORCHDIFFEQ_MESSAGES`) are recognised by their text.
    """
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    torch = sys.modules.get("torch")  # an exception of torch's own type means torch is loaded
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return "out_of_memory", message
    for kind, status in TYPED:
        if isinstance(exc, kind):
            return status, message
    text = str(exc)
    if _is_oom_message(text):
        return "out_of_memory", message
    for pattern, status in TORCHDIFFEQ_MESSAGES:
        if pattern in text:
            return status, message
    return "error", message


def _is_oom_message(text: str) -> bool:
    """CUDA says "out of memory"; the CPU allocator says "can't allocate memory"."""
    text = text.lower()
    return "out of memory" in text or "can't allocate memory" in text
