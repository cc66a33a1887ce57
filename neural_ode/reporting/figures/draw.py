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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from neural_ode.reporting.figures.base import FigureResult, Style, log_axes
from neural_ode.reporting.figures.depth import memory_figure, memory_figures, time_figure
from neural_ode.reporting.figures.nfe import nfe_figure, nfe_time_figure, tolerance_figure
from neural_ode.reporting.figures.outputs import outputs_figure
from neural_ode.reporting.figures.precision import memory_precision_figure, work_precision_figure

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


#: what the figure processes draw from: (frame, directory, style), set before they are forked
_JOB: tuple[pd.DataFrame, Path, Style] | None = None


def _draw(index: int) -> list[FigureResult]:
    frame, directory, style = _JOB
    made = FIGURES[index](frame, directory, style)
    return made if isinstance(made, list) else [made]


def draw_all(frame: pd.DataFrame, directory: Path, *, workers: int | None = None) -> list[FigureResult]:
    """Every figure of the report of a prepared ``frame``, written under ``directory``.

    Laying out and rasterising the figures is most of a report's time (about 30 s of one core for
    the quick preset's ten), so they are drawn by ``workers`` forked processes at once (default:
    one per core, at most one per figure function); 1, or a platform without ``fork``, draws them
    here one after another. The results come back in report order either way.
    """
    global _JOB
    workers = min(len(FIGURES), os.cpu_count() or 1) if workers is None else workers
    _JOB = (frame, Path(directory), Style(frame))
    try:
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                made = list(pool.map(_draw, range(len(FIGURES))))
        else:
            made = [_draw(index) for index in range(len(FIGURES))]
    finally:
        _JOB = None
    return [result for results in made for result in results]


__all__ = [
    "FIGURES",
    "FigureResult",
    "Style",
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
