"""``neural-ode-bench ab``: bad input is refused naming it (exit 2); the paired-ratio statistics; one tiny A/B
between two commits of a scratch clone whose field saves more for backward (exit 1, exact figures)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from neural_ode.cli import main as cli_main
from neural_ode.measuring.paired import exact_rows, lag1_autocorrelation, paired_ratios, timing_rows

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--workload", "mlp", "--method", "direct", "--solver", "rk4", "--steps", "4",
        "--batch", "4", "--width", "8", "--dim", "2"]  # fmt: skip


@pytest.mark.parametrize(
    "words, named",
    [
        (["no-such-revision", "HEAD"], "BASE 'no-such-revision' is not a revision"),
        (["HEAD", "HEAD~100000"], "NEW 'HEAD~100000' is not a revision"),
        (["HEAD", "HEAD", "--rounds", "5"], "--rounds takes an integer of at least 6"),
        (["HEAD", "HEAD", "--threshold", "0.9"], "--threshold takes a number above 1"),
        (["HEAD", "HEAD", "--resume"], "ab takes no --resume"),
        (["HEAD", "HEAD", "--solver", "nope"], "nope"),
        (["HEAD", "HEAD", "--base-python", "/no/such/python"], "--base-python /no/such/python"),
    ],
)
def test_bad_input_is_refused_naming_it(words, named, capsys):
    assert cli_main(["ab", "--repo", str(ROOT), *TINY, *words]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1, err


def test_not_a_repository_is_refused(tmp_path, capsys):
    assert cli_main(["ab", "--repo", str(tmp_path), "HEAD", "HEAD", *TINY]) == 2
    assert "not a git repository" in capsys.readouterr().err


def _times(ratios: list[float], forward: float = 1e-3) -> list[dict]:
    """Timed runs of one cell whose NEW/BASE ratio in round i is ratios[i], BASE first in even rounds."""
    rows = []
    for round_, ratio in enumerate(ratios):
        base = {"round": round_, "cell": 0, "side": "BASE", "first": round_ % 2 == 0,
                "forward_s": forward * (1 + round_), "backward_s": 2 * forward}  # fmt: skip
        new = dict(base, side="NEW", first=round_ % 2 == 1, forward_s=base["forward_s"] * ratio,
                   backward_s=base["backward_s"] * ratio)  # fmt: skip
        rows += [base, new]
    return rows


def test_paired_ratios_take_each_round_new_over_base_whatever_the_load():
    # the load doubles every round: each side's times spread 10x, the per-round ratio stays 1.25
    frame = paired_ratios(_times([1.25] * 10))
    assert list(frame["forward_s_ratio"].round(12)) == [1.25] * 10
    assert list(frame["total_s_ratio"].round(12)) == [1.25] * 10


def test_timing_verdicts_from_the_interval_of_the_median_ratio():
    steady = [1.2, 1.21, 1.19, 1.22, 1.18, 1.2, 1.23, 1.17, 1.2, 1.2]
    rows = timing_rows(["cell"], _times(steady), threshold=1.05).set_index("metric")
    assert rows.loc["forward_time_s", "change"] == "regression"
    assert rows.loc["forward_time_s", "low"] == pytest.approx(1.18)  # n = 10: [x_(2), x_(9)]
    assert rows.loc["forward_time_s", "high"] == pytest.approx(1.22)
    assert rows.loc["forward_time_s", "rounds"] == 10
    # a ratio of 1.03: above 1, but its interval is not wholly above the 1.05 threshold
    assert set(timing_rows(["cell"], _times([1.03] * 10), 1.05)["change"]) == {"same"}
    assert set(timing_rows(["cell"], _times([0.8] * 10), 1.05)["change"]) == {"improvement"}
    # one wild round (a preemption burst) moves the median's interval by one rank, not the verdict
    assert set(timing_rows(["cell"], _times([1.0] * 9 + [9.0]), 1.05)["change"]) == {"same"}
    assert set(timing_rows(["cell"], _times([1.5] * 5), 1.05)["change"]) == {"not enough rounds"}


def test_lag1_autocorrelation():
    assert lag1_autocorrelation([1, -1] * 10) == pytest.approx(-0.95)
    assert lag1_autocorrelation(list(range(20))) > 0.8


def test_exact_figures_compare_as_compare_does():
    base = [{"status": "ok", "nfe_forward": 16, "nfe_backward": 0, "saved_bytes": 1000, "grad_rel_error": 1e-4,
             "instructions_forward": 1_000_000}]  # fmt: skip
    same = [dict(base[0], grad_rel_error=1.02e-4, instructions_forward=1_005_000)]
    rows = exact_rows(["c"], base, same, error_rtol=0.05).set_index("metric")
    assert set(rows["change"]) == {"same"}
    assert rows.loc["instructions_forward", "test"] == "exact within 0.02 (relative)"
    worse = [dict(base[0], saved_bytes=1001, instructions_forward=1_030_000)]
    rows = exact_rows(["c"], base, worse, error_rtol=0.05).set_index("metric")
    assert rows.loc["saved_bytes", "change"] == "regression"
    assert rows.loc["instructions_forward", "change"] == "regression"
    failed = exact_rows(["c"], base, [{"status": "error", "error": "boom"}], 0.05)
    assert list(failed["metric"]) == ["status"] and list(failed["change"]) == ["regression"]


def _git(*words, cwd):
    return subprocess.run(["git", *words], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_ab_between_two_commits_flags_the_field_that_saves_more(tmp_path, capsys):
    """A scratch clone with one more commit: the MLP field's output through one more tanh, which saves its
    output for backward. ab finds the saved bytes regressed (exit 1), NFE equal, and times 6 paired rounds
    in ABBA order."""
    clone = tmp_path / "clone"
    _git("clone", "--quiet", "--no-local", str(ROOT), str(clone), cwd=tmp_path)
    field = clone / "neural_ode" / "workloads" / "mlp.py"
    before = "    def forward(self, t, y):\n        return self.net(y)\n"
    assert before in field.read_text()
    field.write_text(
        field.read_text()
        .replace(before, before.replace("self.net(y)", "torch.tanh(self.net(y))"))
        .replace("from torch import nn", "import torch\nfrom torch import nn")
    )
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tanh", cwd=clone)
    out = tmp_path / "out"
    status = cli_main(["ab", "--repo", str(clone), "HEAD~1", "HEAD", *TINY, "--rounds", "6", "--processes", "1",
                       "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 1, printed
    assert "REGRESSION in: mlp direct rk4 steps=4" in printed
    figures = pd.read_csv(out / "ab.csv").set_index("metric")
    assert figures.loc["saved_bytes", "change"] == "regression"
    assert figures.loc["saved_bytes", "new"] > figures.loc["saved_bytes", "base"]
    assert figures.loc["nfe_forward", "change"] == "same" and figures.loc["nfe_forward", "base"] == 16
    assert {"forward_time_s", "backward_time_s", "total_time_s"} <= set(figures.index)
    low, ratio, high = (figures.loc["forward_time_s", name] for name in ("low", "ratio", "high"))
    # 6 rounds: the interval exists, or is withheld (NaN) when the rounds are too correlated to bound it
    assert (low <= ratio <= high) or (math.isnan(low) and math.isnan(high)), (low, ratio, high)
    rounds = pd.read_csv(out / "rounds.csv")
    assert len(rounds) == 12 and set(rounds["side"]) == {"BASE", "NEW"}
    firsts = rounds[rounds["first"]].sort_values("round")["side"].tolist()
    assert firsts == ["BASE", "NEW"] * 3  # ABBA: the side timed first alternates between rounds
    assert "neural-ode-ab-" not in _git("worktree", "list", cwd=clone)  # the scratch worktrees are gone
