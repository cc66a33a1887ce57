"""Paths inside a folder the tool owns: names that stay inside it, and the one atomic write.

Every file the package writes whole goes through :func:`write_atomically` (or
:func:`replace_atomically` for bytes): the ownership manifest (:mod:`neural_ode.storage.owned`),
the one writer of a report folder (:mod:`neural_ode.storage.writer`), the disk caches of the
workloads (:mod:`neural_ode.workloads.cache`) and of the references
(:mod:`neural_ode.measuring.reference`), and a cell process's record
(:mod:`neural_ode.sweeping.worker`). A reader sees all of a file or none of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from neural_ode.validation import UsageError, check_regular_or_absent


def relative_name(folder: Path, path: Path) -> str:
    """``path`` as a plain folder-relative name; a UsageError if it leaves ``folder``."""
    folder, path = Path(folder), Path(path)
    try:
        relative = path.relative_to(folder) if path.is_absolute() == folder.is_absolute() else None
    except ValueError:
        relative = None
    if relative is None:
        try:
            relative = path.absolute().relative_to(folder.absolute())
        except ValueError:
            raise UsageError(f"{path}: is outside the folder {folder}; this tool writes only inside it") from None
    if not safe_name(relative.as_posix()):
        raise UsageError(f"{path}: is outside the folder {folder}; this tool writes only inside it")
    return relative.as_posix()


def safe_name(name) -> bool:
    """True for a plain relative name inside its folder: not absolute, no ``..``, no empty part."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return False
    pure = PurePosixPath(name)
    return not pure.is_absolute() and all(part not in ("", ".", "..") for part in name.split("/"))


def replace_atomically(path: Path, data: bytes) -> None:
    """``data`` into a fresh temporary file beside ``path``, fsynced, renamed over ``path``."""
    write_atomically(path, lambda handle: handle.write(data))


def write_atomically(path: Path, write: Callable[[BinaryIO], object], *, check: bool = True) -> None:
    """``write(handle)`` into a fresh temporary file beside ``path`` (opened for binary writing),
    fsynced, renamed over ``path``: a reader sees the old file or all of the new one, never a part.

    With ``check`` (the default), something at ``path`` that is not a regular file (a symlink, a
    FIFO, a folder) is refused with a UsageError before and after writing; the caches, which own
    their folder, pass ``check=False``. The temporary file is removed when anything fails.
    """
    path = Path(path)
    if check:
        check_regular_or_absent(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        if check:
            check_regular_or_absent(path)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
