"""Rendering a report from a results table: frame -> tables -> figures -> report.md + report.html.

The contract: :func:`render_report` takes the results table (one row per cell, the columns of
``results.csv``; rows from other readers may fill only some columns, NaN where nothing was
measured) and an output directory, writes ``report.html`` (self-contained: figures embedded as
base64 PNG), ``report.md`` (figures linked under ``figures/``) and ``figures/*.png`` there, and
returns the path of ``report.html``. It never measures anything.

Modules: :mod:`~neural_ode.reporting.columns` (what is read and derived), :mod:`~.growth`
(power-law fits in depth), :mod:`~.claims` (the paper's claims with verdicts),
:mod:`~.choices` (cheapest configuration per accuracy: choices.csv),
:mod:`~.decisions` (those picks in sentences), :mod:`~.matching` (methods at equal accuracy and
equal settings), :mod:`~.recommend` (which method to pick), :mod:`~.tables` (pandas summaries),
:mod:`~.figures` (one function per figure), :mod:`~.render` (tables to text, templates).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from neural_ode.reporting.choices import fronts_table, write_choices
from neural_ode.reporting.claims import claims_table
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.decisions import decision_sentences
from neural_ode.reporting.figures import draw_all
from neural_ode.reporting.matching import pairs_table
from neural_ode.reporting.recommend import BUDGETS, advice, advice_metric, budget_table, head_to_head
from neural_ode.reporting.render import write_report
from neural_ode.reporting.tables import (
    cells_table,
    choices_display,
    failed_table,
    fronts_display,
    growth_summary,
    provenance_table,
    sources_table,
    status_table,
)
from neural_ode.reporting.units import MEMORY_UNIT


def render_report(frame, out_dir: Path) -> Path:
    """Write the report of ``frame`` into ``out_dir``; returns the path of report.html.

    Also writes ``choices.csv`` (:func:`neural_ode.reporting.choices.choices_table`) there.
    ``figures/*.png`` left in ``out_dir`` by an earlier report are removed first, so the
    directory holds exactly this report's figures.
    """
    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for stale in figures_dir.glob("*.png"):
        stale.unlink()
    data = prepare(frame)
    pairs = head_to_head(data)
    choices = write_choices(data, out_dir / "choices.csv")
    context = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cells": len(data),
        "ok": int(data["ok"].sum()),
        "failed": int((~data["ok"]).sum()),
        "decisions": decision_sentences(data),
        "choices": choices_display(choices),
        "fronts": fronts_display(fronts_table(data)),
        "method_pairs": pairs_table(data),
        "advice": advice(data, pairs),
        "advice_metric": advice_metric(data),
        "budgets": list(BUDGETS),
        "memory_unit": MEMORY_UNIT,
        "head_to_head": pairs,
        "budget_table": budget_table(data),
        "claims": claims_table(data),
        "growth": growth_summary(data),
        "figures": draw_all(data, figures_dir),
        "failed_cells": failed_table(data),
        "statuses": status_table(data),
        "provenance": provenance_table(data),
        "sources": sources_table(data),
        "all_cells": cells_table(data),
    }
    return write_report(context, out_dir)


__all__ = ["render_report"]
