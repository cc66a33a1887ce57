"""Rendering a report from a results table (placeholder until the report lands).

The contract: :func:`render_report` takes the results table (one row per cell, the columns of
``results.csv``) and an output directory, writes ``report.html``, ``report.md`` and
``figures/*.png`` there, and returns the path of ``report.html``. It never measures anything.
"""

from __future__ import annotations

from pathlib import Path


def render_report(frame, out_dir: Path) -> Path:
    """Write the report of ``frame`` into ``out_dir``; returns the path of report.html."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text("# neural-ode-bench report\n\n" + frame.to_markdown(index=False) + "\n")
    html = out_dir / "report.html"
    html.write_text("<html><body><h1>neural-ode-bench report</h1>" + frame.to_html(index=False) + "</body></html>")
    return html
