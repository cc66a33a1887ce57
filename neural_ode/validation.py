"""The validation layer: every value a user can give, parsed into its real range before anything runs.

Every entry point (``run`` options and ``--config`` files, ``report``, ``train``, the Python API's
:class:`neural_ode.config.CellConfig`) goes through these parsers, so a value that passes can no
longer crash later: integers fit in int64 (the dtype of ``results.csv``'s integer columns and of
torch sizes), seeds are what ``torch.manual_seed`` and numpy accept, time budgets fit the OS's
timers, text numbers are ASCII digits only (Python's ``int("٣")`` is 3, which no user means).

Bad input raises :class:`UsageError` (a :class:`ValueError`): the command line prints its message
as one line and exits with status 2 (see :mod:`neural_ode.cli`).
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path

from neural_ode.errors import UsageError as UsageError  # re-exported: every parser here raises it

#: the largest integer a size, a step count or a repeat count may be: int64's maximum
INT64_MAX = 2**63 - 1
#: seeds are in [0, SEED_LIMIT): what torch.manual_seed, numpy and the int64 CSV column all take
SEED_LIMIT = 2**63
#: the longest time budget in seconds: the OS's poll/select timers take at most 2^31 - 1 ms
#: (about 24.8 days); 10^6 s (11.6 days) stays well inside them
TIMEOUT_MAX_S = 1e6

_ASCII_INT = re.compile(r"\+?[0-9]+")
_ASCII_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_int(name: str, value, *, minimum: int = 1, maximum: int = INT64_MAX, error=UsageError) -> int:
    """``value`` (an int or a string of ASCII digits) as an integer in [minimum, maximum].

    Floats (``8.0``), booleans, lists and non-ASCII digits are refused: the message names
    ``name`` and the allowed range.
    """
    allowed = "positive integers" if minimum == 1 else f"an integer >= {minimum}"
    if minimum == 0:
        allowed = "a non-negative integer"
    limit = "2^63 - 1" if maximum == INT64_MAX else str(maximum)
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _ASCII_INT.fullmatch(text := value.strip()) and len(text) <= 40:
        number = int(text)
    if number is None or number < minimum:
        raise error(f"{name} takes {allowed}, got {_shown(value)}")
    if number > maximum:
        raise error(f"{name} takes {allowed} of at most {limit}, got {_shown(value)}")
    return number


def parse_float(name: str, value, *, positive: bool = True, maximum: float = math.inf, error=UsageError) -> float:
    """``value`` (an int, a float or an ASCII decimal string) as a finite float (> 0 if ``positive``)
    and at most ``maximum``."""
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range
            number = math.inf
    elif isinstance(value, str) and _ASCII_FLOAT.fullmatch(text := value.strip()) and len(text) <= 400:
        number = float(text)
    allowed = "positive numbers" if positive else "finite numbers"
    if not math.isfinite(number) or (positive and not number > 0):
        raise error(f"{name} takes {allowed}, got {_shown(value)}")
    if number > maximum:
        raise error(f"{name} takes {allowed} of at most {maximum:g}, got {_shown(value)}")
    return number


def parse_seed(name: str, value, *, error=UsageError) -> int:
    """A seed: an integer in [0, 2^63)."""
    return parse_int(name, value, minimum=0, maximum=SEED_LIMIT - 1, error=error)


def parse_timeout(name: str, value, *, error=UsageError) -> float:
    """A time budget in seconds: positive, at most :data:`TIMEOUT_MAX_S`."""
    return parse_float(name, value, maximum=TIMEOUT_MAX_S, error=error)


def parse_text(name: str, value, *, error=UsageError) -> str:
    """A single string (a path, a name): lists, numbers, NUL characters and empty text are refused."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise error(f"{name} takes one non-empty text value, got {_shown(value)}")
    return value


def argument(parse, **options):
    """An argparse ``type=`` from one of these parsers: ``argument(parse_int, minimum=0)``."""
    import argparse

    def convert(text: str):
        return parse(_ARG_NAME, text, error=argparse.ArgumentTypeError, **options)

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert


_ARG_NAME = "it"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- files the tool owns --------------------------------------------------------------------------


def check_regular_or_absent(path: Path | str, what: str = "") -> bool:
    """True when ``path`` is a regular file, False when it does not exist; a :class:`UsageError`
    for a symlink, a FIFO, a device or a directory (the tool never follows or opens those)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"{what or path}: is a symbolic link; this tool writes only regular files it owns")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what or path}: is not a regular file (a FIFO, device or directory); refused")
    return True


def open_owned(path: Path | str, mode: str = "a"):
    """Open ``path`` for appending (``"a"``), writing (``"w"``, truncating) or reading (``"r"``)
    without following a symlink and only if it is a regular file (or, to write, absent).

    Returns a text file object (UTF-8). A symlink, FIFO or other non-regular file is a
    :class:`UsageError`, raised before anything is read or written.
    """
    flags = {"a": os.O_WRONLY | os.O_APPEND | os.O_CREAT, "w": os.O_WRONLY | os.O_CREAT, "r": os.O_RDONLY}[mode]
    check_regular_or_absent(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno in (40, 6):  # ELOOP: a symlink appeared; ENXIO: a FIFO without a reader
            raise UsageError(f"{path}: is not a regular file this tool owns; refused") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: is not a regular file (a FIFO, device or directory); refused")
    os.set_blocking(fd, True)
    if mode == "w":
        os.ftruncate(fd, 0)
    return os.fdopen(fd, {"a": "a", "w": "w", "r": "r"}[mode], encoding="utf-8")


def open_regular(path: Path | str):
    """Open ``path`` for reading as bytes, following symlinks, only if it is a regular file: a
    FIFO or a device is a :class:`UsageError` instead of a read that never ends."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: is not a regular file (a FIFO, device or directory); refused")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
