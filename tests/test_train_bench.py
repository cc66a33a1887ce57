"""The training benchmark (``train-bench``): initialisation, NFE, resuming, time to target, report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from neural_ode.apps.training.bench import BenchConfig, train_run
from neural_ode.apps.training.bench_report import render_bench_report
from neural_ode.apps.training.bench_runner import RECORDS, append_records, complete_keys, plan, read_records, run_bench
from neural_ode.apps.training.bench_tables import SMOOTH, answers, frames, summary_table, target_text, time_to_target
from neural_ode.apps.training.bench_tasks import SPIRAL_SEGMENT, TASKS
from neural_ode.cli import main as cli_main


def spiral(method="direct", solver="dopri5", rtol=1e-3, steps=None, seed=0, iterations=2, check_every=5):
    return BenchConfig(
        task="spiral", method=method, solver=solver, rtol=rtol, steps=steps, seed=seed, iterations=iterations,
        check_every=check_every, lr=1e-2, batch=4, width=8,
    )  # fmt: skip


def records_of(config):
    records = []
    train_run(config, records.append)
    return records


def test_every_configuration_starts_from_the_same_parameters_and_loss():
    configs = [spiral("direct"), spiral("adjoint"), spiral("aca", rtol=1e-5), spiral("checkpoint", "rk4", None, 9)]
    states = [TASKS["spiral"].build(c).state_dict() for c in configs]
    for state in states[1:]:
        assert state.keys() == states[0].keys()
        assert all(torch.equal(state[k], states[0][k]) for k in state)
    assert not torch.equal(TASKS["spiral"].build(spiral(seed=1)).state_dict()["counter.field.net.0.weight"],
                           states[0]["counter.field.net.0.weight"])  # fmt: skip
    # direct and adjoint solve forward with the same torchdiffeq dopri5: the very same first loss
    first = [next(r for r in records_of(c) if r["kind"] == "iteration")["loss"] for c in configs[:2]]
    assert first[0] == first[1]


def test_rk4_nfe_per_iteration_is_four_per_step():
    steps = SPIRAL_SEGMENT - 1  # one step per data interval: every output time on the grid
    for method, backward in (("direct", 0), ("checkpoint", 4 * steps)):
        records = records_of(spiral(method, "rk4", None, steps, iterations=3))
        iterations = [r for r in records if r["kind"] == "iteration"]
        assert [r["nfe_forward"] for r in iterations] == [4 * steps] * 3
        assert [r["nfe_backward"] for r in iterations] == [backward] * 3
        assert records[-1]["kind"] == "run" and records[-1]["status"] == "ok"


def test_checks_at_zero_every_k_and_last_with_the_reference_error_once():
    records = records_of(spiral(iterations=5, check_every=2))
    checks = [r for r in records if r["kind"] == "check"]
    assert [r["iteration"] for r in checks] == [0, 2, 4]
    assert "ref_grad_error" in checks[0] and all("ref_grad_error" not in r for r in checks[1:])
    assert all(0 <= r["grad_rel_error"] < 1 and r["val_loss"] > 0 for r in checks)


def test_resume_skips_complete_runs_and_reruns_a_torn_one(tmp_path):
    configs = [spiral("direct"), spiral("direct", seed=1)]
    assert run_bench(configs, tmp_path) == (2, 0)
    torn = spiral("adjoint")
    append_records(tmp_path / RECORDS, [{"key": torn.key, "attempt": "x", "kind": "iteration", "iteration": 0}])
    assert complete_keys(tmp_path / RECORDS) == {c.key for c in configs}
    seen = []
    trained, skipped = run_bench([*configs, torn], tmp_path, resume=True, progress=lambda c, r: seen.append(c))
    assert (trained, skipped) == (1, 2) and seen == [torn]
    records = read_records(tmp_path / RECORDS)
    assert sum(r["kind"] == "run" for r in records) == 3
    assert all(r["attempt"] != "x" for r in records)  # the torn attempt's records are not read


def _synthetic(losses: dict[int, list[float]]) -> list[dict]:
    """Records of spiral runs (seed -> losses per iteration), 0.5 s per iteration."""
    records = []
    for seed, values in losses.items():
        config = spiral(seed=seed, iterations=len(values))
        head = {"key": config.key, "label": config.label, "attempt": "a"}
        for i, loss in enumerate(values):
            records.append({**head, "kind": "iteration", "iteration": i, "loss": loss, "time_s": 0.5,
                            "elapsed_s": 0.5 * (i + 1), "nfe_forward": 14, "nfe_backward": 0})  # fmt: skip
        records.append({**head, "kind": "check", "iteration": len(values) - 1, "grad_rel_error": 1e-3, "val_loss": 1})
        records.append(
            {**head, "kind": "run", "config": config.to_dict(), "status": "ok", "training_s": 1, "wall_s": 1}
        )
    return records


def test_time_to_target_first_iteration_of_the_trailing_mean_and_not_reached():
    n = SMOOTH + 5
    fast = [1.0] * SMOOTH + [0.0] * 5  # trailing mean 1.0 until iteration SMOOTH - 1, then 0.9, 0.8, ...
    data = frames(_synthetic({0: fast, 1: fast, 2: [1.0] * n}))
    reach = time_to_target(data["iterations"], data["runs"], {"spiral": (0.85, 0.1)})
    row = reach[reach["target"] == 0.85].iloc[0]
    assert (row["seeds"], row["seeds_reached"]) == (3, 2)
    assert row["median_iteration"] == SMOOTH + 1 and row["median_s"] == 0.5 * (SMOOTH + 2)
    assert target_text(row).endswith(f"1 of 3 seeds not reached in {n} it.")
    never = reach[reach["target"] == 0.1].iloc[0]
    assert target_text(never) == f"not reached in {n} iterations"
    table = summary_table(data, {"spiral": (0.85, 0.1)})
    assert table.loc[0, "loss ≤ 0.1"] == f"not reached in {n} iterations"


def test_answer_names_the_first_configuration_and_compares_the_pick():
    data = frames(_synthetic({0: [0.5] * 12}))
    choices = pd.DataFrame([{"workload": "spiral", "target_grad_rel_error": "0.01", "criterion": "time",
                             "method": "direct", "solver": "dopri5", "steps": "", "rtol": "1e-05"}])  # fmt: skip
    (line,) = answers(data, {"spiral": (0.6,)}, choices)
    assert line.startswith("spiral: direct dopri5 0.001 reached training loss 0.6 first")
    assert "was direct dopri5 1e-05: the same method and solver" in line
    (none,) = answers(data, {"spiral": (0.1,)}, None)
    assert none.startswith("spiral: no configuration reached any target")


def test_report_writes_tables_and_figures(tmp_path):
    run_bench([spiral("direct", seed=s, iterations=3, check_every=2) for s in (0, 1)], tmp_path)
    html = render_bench_report(tmp_path)
    assert html.is_file() and (tmp_path / "report.md").is_file()
    for name in ("loss_spiral", "nfe_spiral", "grad_error_spiral"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["configuration"]) == ["direct dopri5 0.001"]
    assert "figures/loss_spiral.png" in (tmp_path / "report.md").read_text()


def test_plan_pairs_checkpoint_grids_with_the_tolerances():
    configs = plan(["spiral"], ["adjoint", "checkpoint"], "dopri5", (1e-3, 1e-5), range(2))
    labels = [c.label for c in configs if c.seed == 0]
    steps = TASKS["spiral"].fixed_steps
    assert labels == ["adjoint dopri5 0.001", "adjoint dopri5 1e-05", *(f"checkpoint rk4 {s} steps" for s in steps)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "nope=1"], "expected TASK=LOSS"),
        (["--tasks", "nope", "--dry-run"], "unknown task 'nope'"),
        (["--methods", "checkpoint", "--solver", "dopri8", "--dry-run", "--tols", "x"], "--tols"),
    ],
)
def test_bad_input_is_one_line_and_status_2(argv, message, capsys):
    assert cli_main(["train-bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_existing_records_need_resume_and_render_needs_records(tmp_path, capsys):
    (tmp_path / RECORDS).write_text(json.dumps({"kind": "run"}) + "\n")
    assert cli_main(["train-bench", "--tasks", "spiral", "--out", str(tmp_path)]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert cli_main(["train-bench", "--render", str(tmp_path / "empty")]) == 2
    assert "no bench.jsonl" in capsys.readouterr().err
