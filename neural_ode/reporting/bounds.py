"""What a report shows of a large results file: the first problems and the first rows, the rest counted.

A history of many runs holds thousands of problems (every distinct seed, size or horizon is one:
:data:`neural_ode.reporting.tables.choices.PROBLEM_KEYS`) and tens of thousands of cells. The page
is for reading, so its cost is bounded by what a reader can look at (issue 33):

* the per-problem sections (picks, advice, head-to-heads, budgets, claims, fronts, growth fits,
  figures, the headline) cover the first :data:`MAX_PROBLEMS` problems in a stable order (sorted by
  the problem keys, as ``groupby`` sorts them), and the page says how many more there are;
* the long tables of rows (every cell, failed cells, history changes) show their first
  :data:`MAX_TABLE_ROWS` rows, and the page says how many more;
* the CSVs beside the report (``choices.csv``, ``fits.csv``) always hold every problem's rows, and
  the results file holds every cell.

Reports within both bounds (every committed report) are unchanged: nothing is left out and no
sentence is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from neural_ode.reporting.tables.choices import problem_keys

#: the per-problem sections cover at most this many problems (the largest committed report has 14)
MAX_PROBLEMS = 16
#: the long tables of rows show at most this many rows (the largest committed report has 115 cells)
MAX_TABLE_ROWS = 500


@dataclass(frozen=True)
class Shown:
    """The rows of the problems a report shows, and how many problems there are.

    Attributes:
        frame: the rows of the first ``shown`` problems (all rows when nothing is left out).
        shown: problems shown; total: problems in the whole frame.
    """

    frame: pd.DataFrame
    shown: int
    total: int

    @property
    def left_out(self) -> int:
        """Problems not shown on the page (their rows are in the CSVs)."""
        return self.total - self.shown


def problem_number(frame: pd.DataFrame) -> pd.Series:
    """Per row: its problem's position (0, 1, ...) in the stable order of the problem keys (NaN keys last)."""
    keys = problem_keys(frame)
    if not keys or frame.empty:
        return pd.Series(0, index=frame.index, dtype=int)
    return frame.groupby(keys, dropna=False, sort=True).ngroup()


def first_problems(frame: pd.DataFrame, limit: int | None = None) -> Shown:
    """The rows of ``frame``'s first ``limit`` problems (default :data:`MAX_PROBLEMS`), by one grouping
    of the whole frame (no re-filtering per problem)."""
    limit = MAX_PROBLEMS if limit is None else limit
    number = problem_number(frame)
    total = int(number.max()) + 1 if len(number) else 0
    if total <= limit:
        return Shown(frame, total, total)
    return Shown(frame[number.to_numpy() < limit], limit, total)


def first_rows(table: pd.DataFrame, limit: int | None = None) -> tuple[pd.DataFrame, int]:
    """``table``'s first ``limit`` rows (default :data:`MAX_TABLE_ROWS`) and how many rows were left out."""
    limit = MAX_TABLE_ROWS if limit is None else limit
    if table is None or len(table) <= limit:
        return table, 0
    return table.head(limit), len(table) - limit


__all__ = ["MAX_PROBLEMS", "MAX_TABLE_ROWS", "Shown", "first_problems", "first_rows", "problem_number"]
