"""Which commit of a result table is compared or reported: commits ordered oldest first, one selected."""

from __future__ import annotations

import pandas as pd


class CompareError(ValueError):
    """The inputs cannot be compared (nothing pairs, a named commit is absent)."""


def commit_order(frame: pd.DataFrame) -> list:
    """The commits of ``frame`` oldest first: by commit date where known, else by first measurement.

    Rows without a commit are in no commit (see :func:`select_commit`).
    """
    if frame.empty or "git_commit" not in frame:
        return []
    known = frame[frame["git_commit"].notna()]
    when = _dates(known, "commit_date").fillna(_dates(known, "measured_at"))
    firsts = pd.DataFrame({"commit": known["git_commit"].astype(str), "when": when})
    firsts = firsts.groupby("commit", sort=False)["when"].min().sort_values(kind="stable", na_position="first")
    return list(firsts.index)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as UTC timestamps (NaT where absent or unparsable)."""
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601")


def select_commit(frame: pd.DataFrame, commit: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """The rows of one commit: ``commit`` (a full hash or a prefix of one), else the newest; rows
    that name no commit are kept with it (they belong to no other).

    Raises:
        CompareError: ``commit`` names no commit of ``frame``, or a prefix names several.
    """
    commits = commit_order(frame)
    if not commits and commit is None:
        return frame, None
    if commit is None:
        chosen = commits[-1]
    else:
        matches = [c for c in commits if str(c).startswith(commit)]
        if len(matches) != 1:
            known = ", ".join(str(c)[:10] for c in commits) or "none"
            what = "matches several commits" if matches else "is not a commit of these results"
            raise CompareError(f"commit {commit!r} {what}; commits: {known}")
        chosen = matches[0]
    return frame[frame["git_commit"].isna() | (frame["git_commit"].astype(str) == chosen)], chosen
