"""How precisely a results folder's timings are known: the share of timed cells whose 95 % interval of
the forward or backward median is wider than ±5 % of it (or that have none: fewer than 6 repeats), and the
share of head-to-head pairs (two methods on identical settings, total time) whose ratio is known within ±5 %.

The first is the report's "Timing noise" line (:func:`neural_ode.reporting.tables.recommend.interval_share`);
results from before calibrated timings get their intervals from the repeats' samples in ``results.jsonl``.
The second (:func:`neural_ode.reporting.tables.paired.pair_precision`) gives two figures per folder:
*unpaired*, the ratio's interval from the two cells' own intervals ([low_B / high_A, high_B / low_A]), which
any results have; *paired*, the 95 % interval of the median per-round ratio, which only results timed in
interleaved groups have (``time_group``).

    PYTHONPATH=. python scripts/interval_share.py reports/quick [more folders or results files] [--halfwidth 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neural_ode.commands.report import read_inputs
from neural_ode.reporting.columns import REPORT_HALFWIDTH, prepare
from neural_ode.reporting.tables.matching import equal_settings_table
from neural_ode.reporting.tables.paired import pair_precision
from neural_ode.reporting.tables.recommend import interval_share


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.1%})" if whole else f"{part} of 0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="results folders or files")
    parser.add_argument("--halfwidth", type=float, default=REPORT_HALFWIDTH, help="relative half-width (0.05)")
    args = parser.parse_args()
    for path in args.inputs:
        frame = prepare(read_inputs([path]))
        share = interval_share(frame, args.halfwidth)
        if share is None:
            print(f"{path}: no timed cell")
            continue
        stops = ", ".join(f"{why}: {n}" for why, n in sorted(share["stops"].items())) or "fixed repeats"
        print(
            f"{path}: {share['wide']} of {share['timed']} timed cells ({share['share']:.1%}) have a 95 % interval "
            f"of the median wider than ±{args.halfwidth:.0%} or none ({share['no_interval']} with fewer than 6 "
            f"repeats); median {share['repeats']:.0f} repeats a cell; stopped by {stops}"
        )
        settings = equal_settings_table(frame)
        pairs = pair_precision(settings[settings["criterion"] == "time"], args.halfwidth)
        print(
            f"{path}: head-to-head pairs (equal settings, total time) whose ratio's 95 % interval lies within "
            f"±{args.halfwidth:.0%}: unpaired (from the cells' own intervals) "
            f"{_share(pairs['unpaired'], pairs['pairs'])}; "
            f"paired in rounds {_share(pairs['paired'], pairs['with_rounds'])}"
            + ("" if pairs["with_rounds"] else " (no cells timed in interleaved groups here)")
        )


if __name__ == "__main__":
    main()
