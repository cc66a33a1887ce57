"""How ``report`` and ``compare`` scale with the number of records (issue 33): seconds and peak RSS.

Builds results files of 1,000, 10,000 and 100,000 records from the committed
``reports/paper/results.jsonl`` (its rows repeated, each copy with its own ``seed``, so every record
is a distinct cell), then times, each in a fresh process:

* ``report FILE --no-figures`` (tables only) at every size;
* ``report FILE`` (figures too) at the sizes in ``--figures-at`` (default 1,000 and 10,000);
* ``compare A B`` of two files of that size (B: the same cells with the timings scaled by 1.02, so
  every timing is tested and none is a regression).

For each it prints and writes wall seconds, CPU seconds of the command and its children (user +
system, from ``resource.getrusage(RUSAGE_CHILDREN)``: roughly independent of other load on the
machine) and peak RSS (GNU ``/usr/bin/time -f %M`` of the command: its largest process). Writes
``OUT/scale.csv`` and ``OUT/scale.md`` (default ``reports/scale/``); the generated inputs and
reports go under a temporary folder, removed at the end.

    PYTHONPATH=. python scripts/scale_check.py                      # everything (alone: ~6-8 min)
    PYTHONPATH=. python scripts/scale_check.py --sizes 1000 --figures-at 1000 --out /tmp/scale   # a try

Targets (issue 33, 2 cores, alone): 100,000 records ``report --no-figures`` under 60 s and 2 GB;
``compare`` of two 100,000-record files under 60 s; ``report`` with figures at 10,000 under 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "reports" / "paper" / "results.jsonl"
TIMINGS = ("time_forward_s", "time_backward_s")


def build(rows: list[dict], count: int, path: Path, *, slower: float = 1.0) -> Path:
    """Write ``count`` records: ``rows`` repeated, copy k with seed k; timings scaled by ``slower``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            row = dict(rows[index % len(rows)], seed=index // len(rows))
            if slower != 1.0:
                for name in TIMINGS:
                    if row.get(name) is not None:
                        row[name] *= slower
                for name in ("time_forward_samples_s", "time_backward_samples_s"):
                    if row.get(name):
                        row[name] = [value * slower for value in row[name]]
            handle.write(json.dumps(row) + "\n")
    return path


def timed(command: list[str]) -> dict:
    """Run ``command`` in a child process; its wall and CPU seconds, peak RSS and exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # GNU time prints this command's own peak RSS (kilobytes) as the last line of stderr
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):  # compare exits 1 on a regression; anything else is a failure
        print(done.stderr[-2000:], file=sys.stderr)
    peak_kb = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(int(peak_kb) / 1024) if peak_kb.isdigit() else None,
        "exit": done.returncode,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--figures-at", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "scale")
    args = parser.parse_args(argv)

    from neural_ode.reporting.bounds import MAX_PROBLEMS, MAX_TABLE_ROWS

    rows = [json.loads(line) for line in SOURCE.read_text(encoding="utf-8").splitlines() if line.strip()]
    cli = [sys.executable, "-m", "neural_ode.cli"]
    results = []
    work = Path(tempfile.mkdtemp(prefix="scale-check-"))
    try:
        for size in args.sizes:
            base = build(rows, size, work / f"base-{size}" / "results.jsonl")
            new = build(rows, size, work / f"new-{size}" / "results.jsonl", slower=1.02)
            runs = [("report --no-figures", [*cli, "report", str(base), "--out", str(work / f"tables-{size}"),
                                             "--no-figures"])]  # fmt: skip
            if size in args.figures_at:
                runs.append(("report", [*cli, "report", str(base), "--out", str(work / f"report-{size}")]))
            runs.append(("compare", [*cli, "compare", str(base), str(new), "--timings", "report"]))
            for name, command in runs:
                result = {"records": size, "command": name, **timed(command)}
                print(
                    f"{size:>7} records  {name:<20} {result['wall_s']:>7.1f} s wall  {result['cpu_s']:>7.1f} s CPU  "
                    f"{result['peak_rss_mb']} MB peak RSS  exit {result['exit']}",
                    flush=True,
                )
                results.append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = pd.DataFrame(results)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "scale.csv", index=False)
    machine = f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores"
    (args.out / "scale.md").write_text(
        "# report and compare against the number of records\n\n"
        f"`scripts/scale_check.py` on {machine}; inputs: copies of `reports/paper/results.jsonl` with distinct "
        "seeds (every record a distinct cell; 8 % of the paper's rows are refused by today's checks and dropped "
        "with a warning; every seed is a problem of its own, so a file of N records holds about N / 14 problems). "
        f"A report page covers the first {MAX_PROBLEMS} problems and the first {MAX_TABLE_ROWS} rows of its long "
        "tables (`neural_ode/reporting/bounds.py`); its CSVs hold every row. CPU: user + system seconds of the "
        "command's process tree; peak RSS: its largest process.\n\n" + table.to_markdown(index=False) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out / 'scale.md'} and {args.out / 'scale.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
