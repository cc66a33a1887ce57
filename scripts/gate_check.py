"""Does ``neural-ode-bench ab`` tell code from load? Identical code must pass; a field doing 10 % more work must fail.

With a noisy neighbour running (``--neighbours`` processes, default one per core, each burning CPU in
random bursts: busy for 20-400 ms, idle for 20-400 ms), the script runs ``ab`` ``--runs`` times
(default 10) on identical code (BASE = NEW = this checkout's HEAD) and ``--runs`` times against a
revision whose MLP field does 10 % more work: a commit it makes in a scratch clone of this
repository, where every evaluation of the field also runs its network on a tenth of the batch (10 %
more matmul work in the forward pass, plus one more call of the network's Python overhead, so a
forward pass slows by somewhat more than 10 %; the extra output is discarded, so the backward pass
of ``direct`` does no more work, that of ``adjoint`` re-evaluates the field and does).
Expected: no timing regression in any identical run, and a regression flagged in at least 9 of 10
slower runs. It prints a table and writes ``OUT/gate.md`` and ``OUT/gate.csv``.

Each ``ab`` run: the cells of ``--workload mlp --method direct,adjoint --solver rk4 --steps 4`` at
``--dim``/``--width``/``--batch`` (default 64/256/64: the field's matmuls dominate a step),
``--rounds`` paired rounds (default 30) over ``--processes`` worker pairs (default 2), at ``ab``'s
default threshold 1.05 (``--threshold``).

Usage (alone on the machine; about 20-25 s an ab run, so 7-9 minutes on 2 cores)::

    PYTHONPATH=. python scripts/gate_check.py --out reports/gate

A correctness try at a tiny size (about 2 minutes; its figures mean nothing)::

    PYTHONPATH=. python scripts/gate_check.py --runs 1 --rounds 6 --processes 1 --dim 2 --width 8 --batch 4 \\
        --out /tmp/gate-tiny
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: the change the slower revision makes to the MLP field (neural_ode/workloads/mlp.py)
FIELD_BEFORE = "    def forward(self, t, y):\n        return self.net(y)\n"
FIELD_AFTER = (
    "    def forward(self, t, y):\n"
    "        self.net(y[: max(1, y.shape[0] // 10)])  # gate_check: 10 % more matmul work, output discarded\n"
    "        return self.net(y)\n"
)
#: a noisy neighbour: bursts of busy CPU and of idleness, each 20-400 ms
NEIGHBOUR = """
import random, time
random.seed({seed})
while True:
    end = time.perf_counter() + random.uniform(0.02, 0.4)
    while time.perf_counter() < end:
        sum(i * i for i in range(1000))
    time.sleep(random.uniform(0.02, 0.4))
"""


def git(*words: str, cwd: Path) -> str:
    """Run git in ``cwd``; its stdout (raises on failure)."""
    return subprocess.run(["git", *words], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def scratch_clone(folder: Path) -> Path:
    """A clone of this repository's HEAD with one more commit: the MLP field doing 10 % more work."""
    clone = folder / "clone"
    git("clone", "--quiet", "--no-local", str(ROOT), str(clone), cwd=folder)
    field = clone / "neural_ode" / "workloads" / "mlp.py"
    text = field.read_text()
    if FIELD_BEFORE not in text:
        raise SystemExit(f"gate_check: {field} no longer has the forward this script changes; update FIELD_BEFORE")
    field.write_text(text.replace(FIELD_BEFORE, FIELD_AFTER))
    git("-c", "user.name=gate_check", "-c", "user.email=gate@check", "commit", "--quiet", "-am",
        "gate_check: the MLP field does 10 % more work", cwd=clone)  # fmt: skip
    return clone


def run_ab(clone: Path, base: str, new: str, args, out: Path) -> dict:
    """One ``ab`` run; its exit status, wall time and timing rows."""
    command = [sys.executable, "-m", "neural_ode.cli", "ab", "--repo", str(clone), base, new,
               "--workload", "mlp", "--method", "direct,adjoint", "--solver", "rk4", "--steps", "4",
               "--dim", str(args.dim), "--width", str(args.width), "--batch", str(args.batch),
               "--rounds", str(args.rounds), "--processes", str(args.processes), "--threshold", str(args.threshold),
               "--out", str(out)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"gate_check: ab failed (exit {done.returncode}): {done.stderr.strip()[-600:]}")
    table = pd.read_csv(out / "ab.csv")
    return {"exit": done.returncode, "wall_s": wall, "timed": table[table["metric"].str.endswith("_time_s")]}


def main(argv=None) -> int:
    """Start the neighbours, run the identical and the slower A/Bs, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="ab runs of each kind (default 10)")
    parser.add_argument("--rounds", type=int, default=30, help="paired rounds of each ab run (default 30)")
    parser.add_argument("--processes", type=int, default=2, help="worker pairs of each ab run (default 2)")
    parser.add_argument("--threshold", type=float, default=1.05, help="ab's threshold (default 1.05)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--neighbours", type=int, default=os.cpu_count() or 1, help="noisy neighbours (default: cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "gate")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, timed = [], []
    with tempfile.TemporaryDirectory(prefix="gate-check-") as folder:
        clone = scratch_clone(Path(folder))
        code = [NEIGHBOUR.format(seed=i) for i in range(args.neighbours)]
        neighbours = [subprocess.Popen([sys.executable, "-c", text]) for text in code]
        load_before = os.getloadavg()[0]
        try:
            for kind, base, new in (("identical", "HEAD~1", "HEAD~1"), ("field +10 %", "HEAD~1", "HEAD")):
                for run in range(args.runs):
                    result = run_ab(clone, base, new, args, Path(folder) / f"{kind[:5]}-{run}")
                    frame = result["timed"]
                    flagged = frame[frame["change"] == "regression"]
                    rows.append({"kind": kind, "run": run + 1, "exit": result["exit"],
                                 "wall_s": round(result["wall_s"], 1), "timing regressions": len(flagged),
                                 "flagged": len(flagged) > 0,
                                 "regressed": "; ".join(f"{c.split(' steps')[0]} {m}" for c, m in
                                                        zip(flagged["cell"], flagged["label"]))})  # fmt: skip
                    timed.append(frame.assign(kind=kind, run=run + 1))
                    print(rows[-1], flush=True)
        finally:
            for neighbour in neighbours:
                neighbour.kill()
                neighbour.wait()
    table = pd.DataFrame(rows)
    ratios = pd.concat(timed, ignore_index=True)
    bounds = zip(ratios["ratio"], ratios["low"], ratios["high"])
    ratios["interval"] = [f"{r:.3f} [{lo:.3f}-{hi:.3f}]" for r, lo, hi in bounds]
    summary = table.groupby("kind", sort=False).agg(runs=("run", "size"), flagged=("flagged", "sum"),
                                                    timing_regressions=("timing regressions", "sum"),
                                                    wall_s=("wall_s", "median"))  # fmt: skip
    identical = summary.loc["identical"] if "identical" in summary.index else None
    slower = summary.loc["field +10 %"] if "field +10 %" in summary.index else None
    passed = identical is not None and identical["timing_regressions"] == 0 and slower is not None \
        and slower["flagged"] >= 0.9 * slower["runs"]  # fmt: skip
    header = (f"ab gate check, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
              f"{args.neighbours} noisy neighbours, load {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
              f"cells mlp direct,adjoint rk4 4 steps dim {args.dim} width {args.width} batch {args.batch}; "
              f"{args.rounds} rounds over {args.processes} worker pairs; threshold {args.threshold:g}")  # fmt: skip
    verdict = "PASS" if passed else "FAIL"
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None):
        print(header)
        print(table.to_string(index=False))
        print(summary.to_string())
        print(f"{verdict}: identical code {identical['timing_regressions'] if identical is not None else '?'} timing "
              f"regressions (0 expected); field +10 %: {slower['flagged'] if slower is not None else '?'} of "
              f"{slower['runs'] if slower is not None else '?'} runs flagged (at least 90 % expected)")  # fmt: skip
    ratios[["kind", "run", "cell", "label", "base", "new", "ratio", "low", "high", "change", "rho", "rounds"]].to_csv(
        args.out / "gate.csv", index=False)  # fmt: skip
    shown = ratios[["kind", "run", "cell", "label", "interval", "change"]]
    (args.out / "gate.md").write_text(
        f"# ab gate check: {verdict}\n\n{header}.\n\nCommand: `PYTHONPATH=. python scripts/gate_check.py "
        f"{' '.join(sys.argv[1:] if argv is None else argv)}`\n\n## Runs\n\n{table.to_markdown(index=False)}\n\n"
        f"## Summary\n\n{summary.to_markdown()}\n\n"
        "## Every timing (median per-round ratio NEW/BASE [95 % interval])\n\n"
        f"{shown.to_markdown(index=False)}\n"
    )  # fmt: skip
    print(f"wrote {args.out / 'gate.md'} and {args.out / 'gate.csv'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
