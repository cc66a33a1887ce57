"""The one writer of the tool's files: every file any command writes goes through :func:`write_file`.

A write is refused (:class:`neural_ode.validation.UsageError`, one line) when its path is
outside its folder (absolute, or with ``..``), when the path or one of the folders on the way is
a symlink, when something that is not a regular file is there (a FIFO is never opened), or when
a file is already there that the folder's manifest (:mod:`neural_ode.storage.owned`) does not
list as the tool's own. Otherwise the name is recorded as owned first, then the bytes are written
to a fresh temporary file in the same folder (``O_EXCL``: never an existing file, never through a
link), fsynced, and renamed over the target (``os.replace``): an interrupted write (Ctrl-C, a
full disk) leaves the old file or the new one, already recorded as the tool's, so the folder
stays one that ``--resume`` and ``report`` accept.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from neural_ode.storage.owned import MANIFEST, add_owned, owned
from neural_ode.storage.paths import relative_name, replace_atomically
from neural_ode.validation import UsageError, check_regular_or_absent


def _make_folders(folder: Path, name: str) -> None:
    """Create the folders of ``name`` under ``folder``, refusing a symlink or a non-folder on the way."""
    current = Path(folder)
    for part in PurePosixPath(name).parts[:-1]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            current.mkdir()
            continue
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{current}: is not a folder this tool wrote (a symlink or a file); refused")


def write_file(path: Path | str, data: bytes | str, folder: Path | str | None = None) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` under ``folder`` (default: its parent) atomically.

    Returns the path. Raises UsageError for a path outside ``folder``, a symlink, a non-regular
    file, or an existing file the folder's manifest does not list (see the module docstring).
    """

    path = Path(path)
    if folder is None:  # the tool's figures go to FOLDER/figures/: the manifest is FOLDER's
        folder = path.parent.parent if path.parent.name == "figures" else path.parent
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = relative_name(folder, path)
    _make_folders(folder, name)
    if check_regular_or_absent(path) and name != MANIFEST and name not in owned(folder):
        raise UsageError(
            f"{path}: already exists and this tool did not write it; pick a new or empty folder "
            "(the tool never overwrites files it did not write)"
        )
    if name != MANIFEST:
        add_owned(folder, [folder / name])  # recorded before the write: an interrupted write never wedges
    replace_atomically(folder / name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_figure(fig, path: Path | str, folder: Path | str | None = None, **savefig) -> Path:
    """Save a matplotlib figure as PNG through :func:`write_file`."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig)
    return write_file(path, buffer.getvalue(), folder)


def write_table(table, path: Path | str, folder: Path | str | None = None) -> Path:
    """Write a pandas DataFrame as CSV (no index) through :func:`write_file`."""
    return write_file(path, table.to_csv(index=False), folder)
