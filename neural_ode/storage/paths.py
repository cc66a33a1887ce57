"""Paths inside a folder the tool owns: names that stay inside it, and atomic replacement.

Below both the ownership manifest (:mod:`neural_ode.storage.owned`) and the one writer
(:mod:`neural_ode.storage.writer`), which both use them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath

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
    check_regular_or_absent(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        check_regular_or_absent(path)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
