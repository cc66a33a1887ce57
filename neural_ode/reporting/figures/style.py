"""The one look of every figure the project draws: seaborn's whitegrid, applied per figure.

Applied as a context (``with figure_theme(): ...``), never globally at import, so importing the
package leaves the user's matplotlib settings alone.
"""

from __future__ import annotations

import matplotlib as mpl
import seaborn as sns

#: dots per inch of every PNG
DPI = 110


def figure_theme(font_scale: float = 0.9):
    """A matplotlib ``rc_context`` with the report style (whitegrid, notebook sizes)."""
    style = dict(sns.axes_style("whitegrid"))
    style.update(sns.plotting_context("notebook", font_scale=font_scale))
    # every text is shown as written: a method name like "$x$" from a result file is never mathtext
    style["text.parse_math"] = False
    return mpl.rc_context(style)
