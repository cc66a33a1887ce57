"""Where a sweep's wall time goes: runs ``neural-ode-bench run`` and splits its wall time by phase.

Each cell records the wall seconds of its passes (``phase_s`` in ``results.jsonl``: rss, build,
counted, peak, timed, roundoff, reference); what the cells do not account for (planning, the
reference pass, one fork per cell, writing records, rendering the report) is the rest of the run's
wall time. The timed repeats' share is what the user asked the sweep for. With ``--check-against``
it also checks that every cell's exact figures (NFE, bytes, errors) equal those of another results
file (e.g. the committed ``reports/quick``), since a faster sweep must measure the same things.

    PYTHONPATH=. python scripts/phase_breakdown.py --out /tmp/quick-phases --check-against reports/quick \\
        [-- extra run options]

Measure alone: the shares are wall-time shares.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

#: figures that a faster sweep must leave unchanged, cell by cell
EXACT = ("nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "params", "grad_rel_error",
         "sol_rel_error", "grad_roundoff_floor", "sol_roundoff_floor", "status")  # fmt: skip
#: the phases in the order a cell runs them
PHASES = ("rss", "build", "counted", "peak", "timed", "roundoff", "reference")
#: timed in the sweep's interleaved group processes (each cell's share), outside the cells' own processes
GROUP = "timed_group"


def _rows(path: Path) -> list[dict]:
    path = path / "results.jsonl" if path.is_dir() else path
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _key(row: dict) -> tuple:
    from neural_ode.config import CellConfig

    fields = {name: row[name] for name in CellConfig.__dataclass_fields__ if name in row}
    return CellConfig(**fields).key


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the sweep's folder (must not exist)")
    parser.add_argument("--check-against", type=Path, help="a results folder or file whose exact figures must match")
    parser.add_argument("run_options", nargs="*", help="options of neural-ode-bench run (after --)")
    args = parser.parse_args()
    begun = time.perf_counter()
    subprocess.run([sys.executable, "-m", "neural_ode", "run", "--out", str(args.out), *args.run_options], check=True)
    wall = time.perf_counter() - begun
    rows = _rows(args.out)
    totals = {phase: sum((row.get("phase_s") or {}).get(phase, 0.0) for row in rows) for phase in (*PHASES, GROUP)}
    in_cells = sum(row.get("cell_wall_s") or 0.0 for row in rows)
    print(f"{len(rows)} cells, {wall:.1f} s of wall time")
    print(f"{'phase':<34} {'seconds':>9} {'share':>7}")
    for phase in PHASES:
        print(f"{'cell: ' + phase:<34} {totals[phase]:9.1f} {totals[phase] / wall:7.1%}")
    other = in_cells - sum(totals[phase] for phase in PHASES)
    print(f"{'cell: rest (provenance, checks)':<34} {other:9.1f} {other / wall:7.1%}")
    print(f"{'interleaved group timing':<34} {totals[GROUP]:9.1f} {totals[GROUP] / wall:7.1%}")
    outside = wall - in_cells - totals[GROUP]
    print(f"{'elsewhere (plan, refs, forks, report)':<34} {outside:9.1f} {outside / wall:7.1%}")
    timed = totals["timed"] + totals[GROUP]
    print(f"timed repeats (with their warm-ups and pilots): {timed / wall:.1%} of the sweep's wall time")
    if args.check_against is None:
        return 0
    theirs = {_key(row): row for row in _rows(args.check_against)}
    differ = []
    for row in rows:
        other_row = theirs.get(_key(row))
        if other_row is None:
            differ.append(f"{_key(row)}: not in {args.check_against}")
            continue
        for figure in EXACT:
            if not _same(row.get(figure), other_row.get(figure)):
                differ.append(f"{_key(row)}: {figure} {row.get(figure)!r} here, {other_row.get(figure)!r} there")
    print(f"exact figures against {args.check_against}: {len(rows) - len({d.split(':')[0] for d in differ})} "
          f"of {len(rows)} cells identical")  # fmt: skip
    for line in differ[:40]:
        print("  " + line)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
