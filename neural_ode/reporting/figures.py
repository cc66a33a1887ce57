"""The report's figures: the registry of figure functions, in report order, and :func:`draw_all`.

Every function takes a prepared frame (:func:`neural_ode.reporting.columns.prepare`), the
figures directory and the shared :class:`~neural_ode.reporting.figures_base.Style`, and returns a
:class:`~neural_ode.reporting.figures_base.FigureResult` (or a list of them); when the data lacks
what a figure needs, no file is written and the result carries a note saying why.

Modules: :mod:`~.figures_base` (result type, styles, axes, legends, spreads, notes),
:mod:`~.figures_precision` (gradient error against time and memory), :mod:`~.figures_depth`
(memory and time against depth), :mod:`~.figures_nfe` (the paper's Figure 3a–c).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from neural_ode.reporting.figures_base import FigureResult, Style, log_axes
from neural_ode.reporting.figures_depth import memory_figure, memory_figures, time_figure
from neural_ode.reporting.figures_nfe import nfe_figure, nfe_time_figure, tolerance_figure
from neural_ode.reporting.figures_precision import memory_precision_figure, work_precision_figure
from neural_ode.reporting.outputs_figures import outputs_figure

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


def draw_all(frame: pd.DataFrame, directory: Path) -> list[FigureResult]:
    """Every figure of the report of a prepared ``frame``, written under ``directory``."""
    style = Style(frame)
    results: list[FigureResult] = []
    for draw in FIGURES:
        made = draw(frame, Path(directory), style)
        results.extend(made if isinstance(made, list) else [made])
    return results


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
