"""Turning the report's tables and figures into report.md and report.html (jinja2 templates).

Tables are formatted once (:func:`format_table`: integers without decimals, other numbers to
three significant digits, missing values as an em dash) and rendered with pandas
``to_markdown`` / ``to_html``. The HTML embeds every figure as a base64 PNG ``data:`` URI, so it
opens from disk with no other file; the Markdown links ``figures/<name>.png``.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

TEMPLATES = Path(__file__).parent / "templates"
MISSING = "—"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value)}"
        if 1000 <= abs(value) < 1e9:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every value as display text (3 significant digits, thousands whole, NaN as —)."""
    if table is None or table.empty:
        return pd.DataFrame()
    table = table.drop(columns=[c for c in ("fit",) if c in table])
    return table.astype(object).map(_cell)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pipes in text escaped), or a note when there is none."""
    text = format_table(table)
    if text.empty:
        return "_(none)_"
    text = text.map(lambda v: v.replace("|", "\\|").replace("\n", " "))
    text.columns = [str(c).replace("|", "\\|") for c in text.columns]
    return text.to_markdown(index=False, disable_numparse=True)  # keep our formatting as it is


def html_table(table: pd.DataFrame) -> str:
    """An HTML table (text escaped), or a note when there is none."""
    text = format_table(table)
    if text.empty:
        return '<p class="none">(none)</p>'
    return text.to_html(index=False, border=0, classes="data", escape=True)


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = _cell
    return env


def _embedded(path: Path | None) -> str | None:
    if path is None:
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def write_report(context: dict, out_dir: Path) -> Path:
    """Render report.md and report.html of ``context`` into ``out_dir``; returns report.html's path.

    ``context`` holds DataFrames (rendered as tables here), the figures
    (:class:`neural_ode.reporting.figures.FigureResult`) and plain values.
    """
    tables = {k: v for k, v in context.items() if isinstance(v, pd.DataFrame)}
    plain = {k: v for k, v in context.items() if k not in tables}
    claims = format_table(context["claims"]).to_dict("records") if len(context["claims"]) else []

    md_context = dict(plain, claims_rows=claims, **{k: markdown_table(v) for k, v in tables.items()})
    for key in ("figures", "history_figures"):
        md_context[key] = [dict(f.__dict__, src=f"figures/{f.path.name}" if f.path else None) for f in context[key]]
    (out_dir / "report.md").write_text(_environment(False).get_template("report.md.j2").render(md_context))

    html_context = dict(plain, claims_rows=claims, **{k: html_table(v) for k, v in tables.items()})
    for key in ("figures", "history_figures"):
        html_context[key] = [dict(f.__dict__, src=_embedded(f.path)) for f in context[key]]
    html = out_dir / "report.html"
    html.write_text(_environment(True).get_template("report.html.j2").render(html_context))
    return html
