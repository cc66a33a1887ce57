"""Time ``neural-ode-bench compare`` on two large result files (issue 33: 100,000 records each, under 60 s).

Builds BASE and NEW from ``reports/paper/results.jsonl`` by replicating its records with distinct
seeds (seed = copy number, so every record is its own cell), NEW's timings scaled by 1.1 and its
recorded load raised by 1 (so every timing is "not judged", the path with the most text to build),
then runs ``compare BASE NEW`` in this process and prints its CPU seconds (``time.process_time``:
fairly independent of the machine's load, unlike wall seconds), wall seconds and peak RSS::

    PYTHONPATH=. python scripts/compare_scale.py --records 100000 --out /tmp/scale

Exit status: compare's (0: nothing regressed, as built).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: one machine's identity on both sides (the committed records predate it), so timings take the judged path
MACHINE = dict(machine_id="5f3a9c0e11d2b7a4", cpu_flags="0badc0ffee123456", cpu_caches="L1d 32K, L2 512K",
               kernel_release="6.1.0")  # fmt: skip


def build(source: Path, records: int, out: Path) -> tuple[Path, Path]:
    """BASE and NEW files of ``records`` records each, copies of ``source``'s ok records with distinct seeds."""
    from neural_ode.errors import BadRecord
    from neural_ode.results.checks import check_row
    from neural_ode.results.readers.jsonl import load_rows

    rows = []
    for row in load_rows(source):  # the committed records this version still reads
        with contextlib.suppress(BadRecord, ValueError):
            check_row(row, str(source))
            if row.get("status") == "ok":
                rows.append(dict(row, **MACHINE))
    out.mkdir(parents=True, exist_ok=True)
    base, new = out / "base.jsonl", out / "new.jsonl"
    with open(base, "w") as b, open(new, "w") as n:
        for i in range(records):
            row = dict(rows[i % len(rows)], seed=i // len(rows))
            b.write(json.dumps(row) + "\n")
            slower = dict(
                row, load_before=(row.get("load_before") or 0) + 1, load_after=(row.get("load_after") or 0) + 1
            )
            for name in ("time_forward_s", "time_backward_s"):
                if isinstance(row.get(name), float):
                    slower[name] = row[name] * 1.1
            for name in ("time_forward_samples_s", "time_backward_samples_s"):
                if isinstance(row.get(name), list):
                    slower[name] = [s * 1.1 for s in row[name]]
            n.write(json.dumps(slower) + "\n")
    return base, new


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records a side (default 100000)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/compare_scale"), help="where the two files go")
    parser.add_argument("--source", type=Path, default=ROOT / "reports" / "paper" / "results.jsonl")
    parser.add_argument(
        "--frames-only", action="store_true",
        help="time compare_frames alone on frames decoded by json + pandas (without the validating reader)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    start = time.perf_counter()
    base, new = build(args.source, args.records, args.out)
    print(f"built {args.records} records a side in {time.perf_counter() - start:.1f} s: {base}, {new}")
    if args.frames_only:
        return frames_only(base, new)
    from neural_ode.cli import main as cli_main

    cpu, wall = time.process_time(), time.perf_counter()
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = cli_main(["compare", str(base), str(new)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(output.getvalue().strip().splitlines()[-1][:400])
    print(f"compare of {args.records:,} + {args.records:,} records: exit {code}, {cpu:.1f} s CPU, {wall:.1f} s wall, "
          f"peak RSS {peak:.0f} MB (CPU seconds are fairly load-independent; wall seconds are not)")  # fmt: skip
    return code


def frames_only(base: Path, new: Path) -> int:
    """Time :func:`compare_frames` alone (the comparison, not the reading)."""
    import pandas as pd

    from neural_ode.results.compare import compare_frames

    frames = [pd.DataFrame([json.loads(line) for line in open(path)]) for path in (base, new)]
    cpu, wall = time.process_time(), time.perf_counter()
    comparison = compare_frames(*frames)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"compare_frames of {len(frames[0]):,} + {len(frames[1]):,} records: {comparison.paired:,} cells paired, "
          f"{len(comparison.table):,} figures, {len(comparison.regressions)} regressions; {cpu:.1f} s CPU, "
          f"{wall:.1f} s wall, peak RSS {peak:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
