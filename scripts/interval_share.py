"""How precisely a results folder's timings are known: the share of timed cells whose 95 % interval of
the forward or backward median is wider than ±5 % of it (or that have none: fewer than 6 repeats).

The same figure as the report's "Timing noise" line (:func:`neural_ode.reporting.tables.recommend.interval_share`);
results from before calibrated timings get their intervals from the repeats' samples in
``results.jsonl``.

    PYTHONPATH=. python scripts/interval_share.py reports/quick [more folders or results files] [--halfwidth 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neural_ode.commands.report import read_inputs
from neural_ode.reporting.columns import REPORT_HALFWIDTH, prepare
from neural_ode.reporting.tables.recommend import interval_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="results folders or files")
    parser.add_argument("--halfwidth", type=float, default=REPORT_HALFWIDTH, help="relative half-width (0.05)")
    args = parser.parse_args()
    for path in args.inputs:
        share = interval_share(prepare(read_inputs([path])), args.halfwidth)
        if share is None:
            print(f"{path}: no timed cell")
            continue
        stops = ", ".join(f"{why}: {n}" for why, n in sorted(share["stops"].items())) or "fixed repeats"
        print(
            f"{path}: {share['wide']} of {share['timed']} timed cells ({share['share']:.1%}) have a 95 % interval "
            f"of the median wider than ±{args.halfwidth:.0%} or none ({share['no_interval']} with fewer than 6 "
            f"repeats); median {share['repeats']:.0f} repeats a cell; stopped by {stops}"
        )


if __name__ == "__main__":
    main()
