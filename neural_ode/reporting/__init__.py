"""Rendering a report from a results table: frame -> tables -> figures -> report.md + report.html.

The contract: :func:`render_report` takes the results table (one row per cell, the columns of
``results.csv``; rows from other readers may fill only some columns, NaN where nothing was
measured) and an output directory, writes ``report.html`` (self-contained: figures embedded as
base64 PNG), ``report.md`` (figures linked under ``figures/``), ``fits.csv`` (every affine growth fit) and
``figures/*.png`` there, and
returns the path of ``report.html``. It never measures anything.

Sub-packages and modules: :mod:`~neural_ode.reporting.columns` (what is read and derived);
:mod:`~neural_ode.reporting.claims` (the paper's claims with verdicts: ``growth``, the affine
least-squares fits of each figure against depth with an interval on the slope, ``lines``,
``paper``, ``outputs``, ``verdicts``); :mod:`~neural_ode.reporting.tables` (pandas tables:
``cells``, ``choices`` (cheapest configuration per accuracy: choices.csv), ``decisions`` (those
picks in sentences), ``matching`` (methods at equal accuracy and equal settings), ``recommend``
(which method to pick), ``libraries`` (which library), ``gradients`` (wrong gradients),
``history`` (across commits)); :mod:`~neural_ode.reporting.figures` (one module per family of
figures, ``draw`` draws them all); :mod:`~neural_ode.reporting.page` (``render``: tables to text,
the templates).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from neural_ode.exports import lazy_exports
from neural_ode.reporting.bounds import first_problems, first_rows
from neural_ode.reporting.claims.paper import claims_table
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.figures.draw import draw_all
from neural_ode.reporting.page.render import write_report
from neural_ode.reporting.tables.cells import (
    cells_table,
    choices_display,
    failed_table,
    fronts_display,
    growth_summary,
    provenance_table,
    sources_table,
    status_table,
    write_fits,
)
from neural_ode.reporting.tables.choices import choices_table, fronts_table, problem_keys, write_choices
from neural_ode.reporting.tables.decisions import decision_sentences
from neural_ode.reporting.tables.gradients import wrong_gradient_section
from neural_ode.reporting.tables.headline import headline
from neural_ode.reporting.tables.history import history_changes, history_figures
from neural_ode.reporting.tables.libraries import libraries_section
from neural_ode.reporting.tables.matching import matched_tables, pairs_table
from neural_ode.reporting.tables.recommend import BUDGETS, advice, advice_metric, budget_table, head_to_head
from neural_ode.results.schema import METRICS
from neural_ode.storage.owned import REPORT_FILES, add_owned, check_owned, stale_figures
from neural_ode.units import MEMORY_UNIT


def render_report(
    frame, out_dir: Path, commit: str | None = None, published=None, *, figures: bool = True, progress: bool = True
) -> Path:
    """Write the report of ``frame`` into ``out_dir``; returns the path of report.html.

    ``figures/*.png`` left in ``out_dir`` by an earlier report of this tool are removed first, so
    the directory holds exactly this report's figures. Files the tool did not write are never
    overwritten or deleted: such a file under a name the report uses is a
    :class:`neural_ode.validation.UsageError` before anything is written (see :mod:`.owned`).
    When ``frame`` holds several commits, the advice, head-to-head, claims and figures use one:
    ``commit`` (a hash or prefix), else the newest; the history section and the tables of cells
    cover them all.

    Raises:
        neural_ode.results.compare.CompareError: ``commit`` is not a commit of ``frame``.
    Also writes ``choices.csv`` (:func:`neural_ode.reporting.tables.choices.choices_table`) there.
    ``published`` (the table of :func:`neural_ode.apps.published.table.published_table`, as the
    ``published`` command makes it) adds the section "Against published results".
    Without ``figures`` (``report --no-figures``) only the tables are written: no figure is drawn
    and the page says so. ``progress`` shows which step runs (a tqdm bar on stderr, only when
    stderr is a terminal).
    """
    from neural_ode.results.compare import commit_order, select_commit

    out_dir = Path(out_dir)
    check_owned(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for stale in stale_figures(out_dir):
        stale.unlink(missing_ok=True)
    steps = _Steps(progress, total=17 if figures else 15)
    everything = steps("preparing", prepare, frame)
    data, chosen = select_commit(everything, commit)
    data = data.reset_index(drop=True)
    # the CSVs hold every problem; the page's per-problem sections the first MAX_PROBLEMS (bounds.py)
    shown = first_problems(data)
    view = shown.frame.reset_index(drop=True) if shown.left_out else data
    changes = steps("history", history_changes, everything)
    fits = steps("fitting growth", write_fits, data, out_dir / "fits.csv")
    pairs = steps("head to head", head_to_head, view)
    matched = steps("matching", matched_tables, view)  # equal accuracy and settings: once, read twice
    choices = steps("choices", write_choices, data, out_dir / "choices.csv")
    context = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cells": len(data),
        "ok": int(data["ok"].sum()),
        "failed": int((~data["ok"]).sum()),
        "problems_total": shown.total,
        "problems_shown": shown.shown,
        "problems_left_out": shown.left_out,
        "problem_order": ", ".join(problem_keys(data)),
        "decisions": steps("decisions", decision_sentences, view),
        "choices": choices_display(choices_table(view) if shown.left_out else choices),
        "fronts": fronts_display(steps("fronts", fronts_table, view)),
        "method_pairs": steps("method pairs", pairs_table, view, matched),
        "advice": steps("advice", advice, view, pairs, matched),
        "advice_metric": advice_metric(view),
        "budgets": list(BUDGETS),
        "memory_unit": MEMORY_UNIT,
        "head_to_head": pairs,
        "budget_table": steps("budgets", budget_table, view),
        "claims": steps("claims", claims_table, view),
        "growth": steps("growth summary", growth_summary, view, None if shown.left_out else fits),
        "figures": steps("drawing figures", draw_all, view, figures_dir, progress=progress) if figures else [],
        "figures_skipped": not figures,
        "commit": chosen,
        "commits": len(commit_order(everything)),
        "history_figures": steps("history figures", history_figures, everything, changes, figures_dir)
        if figures
        else [],
        "history_changes": changes,
        "failed_cells": failed_table(everything),
        "statuses": status_table(everything),
        "provenance": provenance_table(everything),
        "sources": sources_table(everything),
        "all_cells": steps("tables of cells", cells_table, everything),
        "glossary": list(METRICS.values()),
        **steps("libraries", libraries_section, view),
        **wrong_gradient_section(view),
        "published": published if published is not None else pd.DataFrame(),
        "published_rows": 0 if published is None else len(published),
    }
    context["headline"] = headline(view, context["figures"])  # after the figures: each answer names one
    context["failed_count"] = len(context["failed_cells"])
    for name in ROW_CAPPED:  # long tables of rows: the first MAX_TABLE_ROWS, the rest counted
        context[name], context[f"{name}_left_out"] = first_rows(context[name])
    context["empty"] = {k for k, v in context.items() if isinstance(v, pd.DataFrame) and v.empty}  # sections left out
    steps.close()
    drawn = [f.path for f in (*context["figures"], *context["history_figures"]) if f.path]
    add_owned(out_dir, drawn + [out_dir / n for n in REPORT_FILES])
    return write_report(context, out_dir)


#: the context's tables of rows (cells, failed cells, history changes) that the page shows the first rows of
ROW_CAPPED = ("all_cells", "failed_cells", "history_changes")


class _Steps:
    """The report's steps, one tick each on a tqdm bar on stderr (silent when stderr is no terminal)."""

    def __init__(self, shown: bool, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="report", unit=" steps", disable=None if shown else True, leave=False)

    def __call__(self, name: str, call, *args, **kwargs):
        self.bar.set_postfix_str(name, refresh=False)
        try:
            return call(*args, **kwargs)
        finally:
            self.bar.update()

    def close(self) -> None:
        self.bar.close()


__all__ = ["render_report"]


#: what the applications (:mod:`neural_ode.apps`) render with, beside :func:`render_report`: public
#: name -> where it is defined (imported on first use)
EXPORTS = {
    "TEMPLATES": "neural_ode.reporting.page.render",
    "embedded": "neural_ode.reporting.page.render",
    "html_table": "neural_ode.reporting.page.render",
    "markdown_table": "neural_ode.reporting.page.render",
    "md_text": "neural_ode.reporting.page.render",
    "render_pair": "neural_ode.reporting.page.render",
    "DPI": "neural_ode.reporting.figures.style",
    "figure_theme": "neural_ode.reporting.figures.style",
    "measured": "neural_ode.reporting.columns",
    "HALF_BAND": "neural_ode.reporting.claims.lines",
    "method_family": "neural_ode.reporting.claims.lines",
    "outputs_lines": "neural_ode.reporting.claims.outputs",
    "HOLDS": "neural_ode.reporting.claims.verdicts",
    "DOES_NOT_HOLD": "neural_ode.reporting.claims.verdicts",
    "NOT_ENOUGH_EVIDENCE": "neural_ode.reporting.claims.verdicts",
    "NOT_MEASURED": "neural_ode.reporting.claims.verdicts",
    "NOT_SIGNIFICANTLY_DIFFERENT": "neural_ode.reporting.claims.verdicts",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
