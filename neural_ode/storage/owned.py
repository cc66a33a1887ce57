"""Which files in an output folder this tool wrote: ``DIR/.neural-ode-bench-files.json``.

The tool writes and replaces only files it wrote itself: before a report (or a sweep's tables)
goes into a folder, every name it is about to write that already exists must be listed in the
folder's manifest, and be a regular file; otherwise the command stops with a
:class:`neural_ode.validation.UsageError` before anything is measured or written. Stale figures
of an earlier report are removed only when the manifest lists them, so a user's own
``figures/*.png`` are never deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from neural_ode.storage.paths import relative_name, replace_atomically, safe_name
from neural_ode.validation import UsageError, check_regular_or_absent

MANIFEST = ".neural-ode-bench-files.json"
#: what a report writes at the top of its folder
REPORT_FILES = ("report.html", "report.md")


def owned(folder: Path) -> set[str]:
    """The folder-relative names the manifest lists (empty when it is absent or unreadable)."""
    path = Path(folder) / MANIFEST
    try:
        if not check_regular_or_absent(path):
            return set()
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, UsageError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None

    # a name that leaves the folder (absolute, ``..``) is never trusted: nothing outside is written or deleted
    return {name for name in files if safe_name(name)} if isinstance(files, list) else set()


def check_owned(folder: Path, names: Iterable[str] = REPORT_FILES) -> None:
    """Raise :class:`UsageError` if the folder holds, under one of ``names`` or as ``figures/*.png``,
    a file this tool did not write (or anything that is not a regular file)."""
    folder = Path(folder)
    if not folder.exists():
        return
    mine = owned(folder)
    candidates = [folder / name for name in names]
    figures = folder / "figures"
    if figures.is_symlink() or (figures.exists() and not figures.is_dir()):
        raise UsageError(f"{figures}: is not a folder this tool wrote; pick another --out")
    if figures.is_dir():
        candidates += sorted(figures.glob("*.png"))
    for path in candidates:
        name = path.relative_to(folder).as_posix()
        if os.path.lexists(path):
            check_regular_or_absent(path)
            if name not in mine:
                raise UsageError(
                    f"--out {folder} already holds {name}, which this tool did not write; "
                    "pick a new or empty folder (the tool never overwrites or deletes files it did not write)"
                )


def add_owned(folder: Path, paths: Iterable[Path]) -> None:
    """Add ``paths`` (under ``folder``) to the manifest.

    Read, extended and replaced under an exclusive ``flock`` of the folder itself, so that
    processes adding names at once (the report's figure processes) never drop each other's.
    """
    folder = Path(folder)
    added = {relative_name(folder, Path(p)) for p in paths}
    with _manifest_lock(folder):
        names = owned(folder) | added
        replace_atomically(folder / MANIFEST, json.dumps({"files": sorted(names)}, indent=1).encode("utf-8"))


@contextlib.contextmanager
def _manifest_lock(folder: Path):
    """An exclusive ``flock`` on the folder's own descriptor (not the sweep's lock file, which the
    sweep holds while its report is drawn), released when closed, or when its holder dies."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def stale_figures(folder: Path) -> list[Path]:
    """The ``figures/*.png`` the manifest lists (an earlier report's), to remove before drawing."""
    folder = Path(folder)
    return [
        folder / name
        for name in sorted(owned(folder))
        if name.startswith("figures/") and name.endswith(".png") and name.count("/") == 1  # never below figures/
    ]
