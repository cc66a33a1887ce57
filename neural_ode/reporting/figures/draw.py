"""The report's figures: the registry of figure functions, in report order, and :func:`draw_all`.

Every function takes a prepared frame (:func:`neural_ode.reporting.columns.prepare`), the
figures directory and the shared :class:`~neural_ode.reporting.figures.base.Style`, and returns a
:class:`~neural_ode.reporting.figures.base.FigureResult` (or a list of them); when the data lacks
what a figure needs, no file is written and the result carries a note saying why.

Modules: :mod:`~.figures_base` (result type, styles, axes, legends, spreads, notes),
:mod:`~.figures_precision` (gradient error against time and memory), :mod:`~.figures_depth`
(memory and time against depth), :mod:`~.figures_nfe` (the paper's Figure 3a–c).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import replace
from pathlib import Path

import pandas as pd

from neural_ode.reporting.columns import LINE_KEYS
from neural_ode.reporting.figures.base import FigureResult, Style, log_axes
from neural_ode.reporting.figures.depth import memory_figure, memory_figures, time_figure
from neural_ode.reporting.figures.nfe import nfe_figure, nfe_time_figure, tolerance_figure
from neural_ode.reporting.figures.outputs import outputs_figure
from neural_ode.reporting.figures.precision import memory_precision_figure, work_precision_figure
from neural_ode.reporting.figures.workers import figure_pool

#: every figure in report order (the decision figures first; memory figures expand to one per memory metric)
FIGURES: tuple[Callable[..., FigureResult | list[FigureResult]], ...] = (
    work_precision_figure,
    memory_precision_figure,
    memory_figures,
    time_figure,
    nfe_figure,
    tolerance_figure,
    nfe_time_figure,
    outputs_figure,
)


#: the most lines a figure draws (groups of :data:`~neural_ode.reporting.columns.LINE_KEYS`): past this a
#: figure is no longer read line by line; the cells left out are counted in its caption and are all in
#: results.csv (the committed reports draw at most 62)
MAX_LINES = 64

#: what the figure processes draw from: (frame, directory, style), set before they are forked
_JOB: tuple[pd.DataFrame, Path, Style] | None = None


def _draw(index: int) -> list[FigureResult]:
    frame, directory, style = _JOB
    made = FIGURES[index](frame, directory, style)
    return made if isinstance(made, list) else [made]


def capped(frame: pd.DataFrame, limit: int = MAX_LINES) -> tuple[pd.DataFrame, str | None]:
    """``frame`` cut to its first ``limit`` lines, and a note saying what was left out (None when nothing).

    Lines are ordered by seed, then as they first appear, so a cut keeps every method and solver
    of the lowest seeds rather than every seed of the first method.
    """
    keys = [key for key in LINE_KEYS if key in frame]
    if not keys or frame.empty:
        return frame, None
    line = frame.groupby(keys, dropna=False, sort=False).ngroup()
    count = int(line.max()) + 1
    if count <= limit:
        return frame, None
    first = pd.DataFrame({"line": line, "seed": frame["seed"] if "seed" in frame else 0})
    order = first.groupby("line", sort=False)["seed"].min().sort_values(kind="stable")
    kept = frame[line.isin(order.index[:limit])]
    note = (
        f"{limit} of {count} lines drawn ({len(kept)} of {len(frame)} cells, lowest seeds first); "
        "every cell is in results.csv and the tables"
    )
    return kept, note


def draw_all(
    frame: pd.DataFrame, directory: Path, *, workers: int | None = None, progress: bool = False
) -> list[FigureResult]:
    """Every figure of the report of a prepared ``frame``, written under ``directory``.

    Laying out and rasterising the figures is most of a report's time (about 30 s of one core for
    the quick preset's ten), so they are drawn by ``workers`` forked processes at once (default:
    one per core, at most one per figure function); 1, or a platform without ``fork``, draws them
    here one after another. The results come back in report order either way. A figure draws at
    most :data:`MAX_LINES` lines (:func:`capped`; its caption says what was left out). The workers
    die with this process (:mod:`~.workers`) and hold no lock of the folder. ``progress``: a tqdm
    bar on stderr, when it is a terminal.
    """
    global _JOB
    from tqdm import tqdm

    workers = min(len(FIGURES), os.cpu_count() or 1) if workers is None else workers
    frame, note = capped(frame)
    _JOB = (frame, Path(directory), Style(frame))
    bar = tqdm(total=len(FIGURES), desc="figures", disable=None if progress else True, leave=False)
    try:
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            with figure_pool(workers) as pool:
                futures = {pool.submit(_draw, index): index for index in range(len(FIGURES))}
                done = {}
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    bar.update()
                made = [done[index] for index in range(len(FIGURES))]
        else:
            made = []
            for index in range(len(FIGURES)):
                made.append(_draw(index))
                bar.update()
    finally:
        _JOB = None
        bar.close()
    results = [result for results in made for result in results]
    if note:
        results = [replace(r, caption=f"{r.caption} ({note}.)") for r in results]
    return results


__all__ = [
    "FIGURES",
    "MAX_LINES",
    "FigureResult",
    "Style",
    "capped",
    "draw_all",
    "log_axes",
    "memory_figure",
    "memory_figures",
    "nfe_figure",
    "nfe_time_figure",
    "time_figure",
    "tolerance_figure",
    "work_precision_figure",
]
