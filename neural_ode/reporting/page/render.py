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

from neural_ode.reporting.claims.verdicts import css_class
from neural_ode.storage.writer import write_file
from neural_ode.units import MISSING

TEMPLATES = Path(__file__).parent / "templates"


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


#: Markdown's active characters in text taken from result files, and what they become: no raw
#: HTML, no links or images (remote or ``javascript:``), no code spans or emphasis from a field
_MD_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
    }
)


def md_text(value) -> str:
    """``value`` as inert Markdown text on one line (see :data:`_MD_ESCAPES`)."""
    return " ".join(str(value).translate(_MD_ESCAPES).split())


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (text escaped: no HTML, links or images), or a note when there is none."""
    text = format_table(table)
    if text.empty:
        return "_(none)_"
    text = text.map(md_text)
    text.columns = [md_text(c) for c in text.columns]
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
    env.filters["css_class"] = css_class
    return env


def embedded(path: Path | None) -> str | None:
    if path is None:
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def write_report(context: dict, out_dir: Path) -> Path:
    """Render report.md and report.html of ``context`` into ``out_dir``; returns report.html's path.

    ``context`` holds DataFrames (rendered as tables here), the figures
    (:class:`neural_ode.reporting.figures.draw.FigureResult`) and plain values.
    """
    tables = {k: v for k, v in context.items() if isinstance(v, pd.DataFrame)}
    plain = {k: v for k, v in context.items() if k not in tables}
    claims = format_table(context["claims"]).to_dict("records") if len(context["claims"]) else []

    md_context = dict(plain, claims_rows=claims, **{k: markdown_table(v) for k, v in tables.items()})
    md_context["claims_rows"] = [{k: md_text(v) for k, v in row.items()} for row in claims]
    md_context["advice"] = [(md_text(topic), md_text(text)) for topic, text in context.get("advice", [])]
    for key in ("figures", "history_figures"):
        md_context[key] = [
            dict(
                {k: md_text(v) if isinstance(v, str) else v for k, v in f.__dict__.items()},
                src=f"figures/{f.path.name}" if f.path else None,
            )
            for f in context[key]
        ]
    write_file(out_dir / "report.md", _environment(False).get_template("report.md.j2").render(md_context))

    html_context = dict(plain, claims_rows=claims, **{k: html_table(v) for k, v in tables.items()})
    for key in ("figures", "history_figures"):
        html_context[key] = [dict(f.__dict__, src=embedded(f.path)) for f in context[key]]
    html = out_dir / "report.html"
    write_file(html, _environment(True).get_template("report.html.j2").render(html_context))
    return html


def render_pair(name: str, context: dict, tables: dict, figures: dict, out_dir: Path) -> Path:
    """Render ``<name>.md.j2`` and ``<name>.html.j2`` into ``out_dir``/report.md and report.html.

    ``tables`` (name -> DataFrame) are formatted once and rendered as Markdown or HTML tables;
    ``figures`` (name -> PNG path) are linked relative to ``out_dir`` in the Markdown and
    embedded as ``data:`` URIs in the HTML. Returns report.html's path.
    """
    out_dir = Path(out_dir)
    md = dict(context, **{k: markdown_table(v) for k, v in tables.items()})
    md.update({k: Path(v).relative_to(out_dir).as_posix() for k, v in figures.items()})
    write_file(out_dir / "report.md", _environment(False).get_template(f"{name}.md.j2").render(md))
    html = dict(context, **{k: html_table(v) for k, v in tables.items()})
    html.update({k: embedded(v) for k, v in figures.items()})
    path = out_dir / "report.html"
    write_file(path, _environment(True).get_template(f"{name}.html.j2").render(html))
    return path
