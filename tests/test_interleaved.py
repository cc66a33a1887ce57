"""Interleaved head-to-heads: grouping by problem, timing a group in rounds, and the report's paired ratios."""

from __future__ import annotations

import pytest

from neural_ode.axes import AXES, problem_keys
from neural_ode.config import CellConfig
from neural_ode.measuring.grouped import group_settings, time_group
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.decisions import decision_sentences
from neural_ode.reporting.tables.matching import equal_settings_table, pairs_table
from neural_ode.results.record import CellRecord, records_to_frame
from neural_ode.sweeping.groups import problem_groups, problem_key

TINY = {"workload": "mlp", "solver": "rk4", "batch": 4, "width": 8, "dim": 2, "repeats": 6, "warmup": 1}


def test_cells_are_grouped_by_every_problem_axis_and_only_those():
    cells = [
        CellConfig(**{**TINY, "method": "direct", "steps": 4}),
        CellConfig(**{**TINY, "method": "adjoint", "steps": 8}),  # a choice differs: same problem
        CellConfig(**{**TINY, "method": "direct", "steps": 4, "batch": 8}),  # a size differs: another problem
        CellConfig(**{**TINY, "method": "direct", "steps": 4, "horizon": 2.0}),  # horizon is a problem axis
        CellConfig(**{**TINY, "method": "aca", "steps": 16}),
    ]
    groups = problem_groups(cells)
    assert [[c.method for c in g] for g in groups] == [["direct", "adjoint", "aca"], ["direct"], ["direct"]]
    # the keys are the axes declaration's, not a list of this module's
    assert len(problem_key(cells[0])) == len([k for k in problem_keys() if AXES[k].config])
    assert not {"method", "solver", "steps", "rtol", "atol", "dtype", "land"} & set(problem_keys())


def test_group_settings_add_the_budgets_and_take_the_most_repeats():
    cells = [CellConfig(**{**TINY, "method": "direct", "steps": 4, "time_budget_s": 0.5, "max_repeats": 20}),
             CellConfig(**{**TINY, "method": "adjoint", "steps": 4, "time_budget_s": 1.0, "repeats": 8})]  # fmt: skip
    assert group_settings(cells) == {"repeats": 8, "warmup": 1, "max_repeats": 20, "halfwidth": 0.05,
                                     "budget_s": 1.5}  # fmt: skip


def test_a_group_is_timed_in_the_same_rounds_with_one_id():
    cells = [CellConfig(**{**TINY, "method": m, "steps": 4}) for m in ("direct", "adjoint")]
    fields = time_group(cells, [16, 16], "g1")
    assert [f["time_group"] for f in fields] == ["g1", "g1"] and {f["time_group_size"] for f in fields} == {2}
    assert [f["time_repeats"] for f in fields] == [6, 6]  # one count of rounds for every member
    assert all(len(f["time_forward_samples_s"]) == len(f["time_backward_samples_s"]) == 6 for f in fields)
    assert all(f["time_forward_s"] > 0 and f["time_eval_s"] > 0 and f["solver_overhead"] > 0 for f in fields)
    assert all(f["time_stop"] == "fixed count" for f in fields)
    # every field is a record field: the sweep gives them to the members' records as they are
    CellRecord(config=cells[0], **fields[0])


def _record(method: str, steps: int, totals: list[float], group: str | None, error: float = 1e-6) -> CellRecord:
    forward = [t / 2 for t in totals]
    return CellRecord(
        config=CellConfig(**{**TINY, "method": method, "steps": steps}),
        time_forward_s=sorted(forward)[len(forward) // 2],
        time_backward_s=sorted(forward)[len(forward) // 2],
        time_forward_samples_s=forward,
        time_backward_samples_s=forward,
        time_forward_ci_low_s=min(forward), time_forward_ci_high_s=max(forward),
        time_backward_ci_low_s=min(forward), time_backward_ci_high_s=max(forward),
        time_group=group, time_repeats=len(totals),
        nfe_forward=16, nfe_backward=16, cpu_peak_bytes=1000, grad_rel_error=error, sol_rel_error=error,
    )  # fmt: skip


LOAD = [1.0, 1.3, 0.9, 2.0, 1.1, 1.6, 1.0, 1.2, 0.95, 1.8, 1.05, 1.4]  # a load that moves both contenders


def test_equal_settings_use_the_paired_ratio_and_its_interval_where_cells_share_rounds():
    direct = _record("direct", 4, [x * 1e-3 for x in LOAD], "g")
    adjoint = _record("adjoint", 4, [x * 1.1e-3 for x in LOAD], "g")  # 10 % slower in every round
    table = equal_settings_table(prepare(records_to_frame([direct, adjoint])))
    time = table[table["criterion"] == "time"].iloc[0]
    assert time["ratio"] == pytest.approx(1.1) and time["paired_rounds"] == 12
    assert time["ratio_low"] == pytest.approx(1.1) and time["ratio_high"] == pytest.approx(1.1)
    assert time["resolved"] is True  # the cells' own intervals (the load's spread) overlap; the rounds resolve it
    assert "1 of 1 (1 paired in rounds)" in pairs_table(prepare(records_to_frame([direct, adjoint]))).iloc[0].to_dict()[
        "time differences resolved at equal settings"
    ]


def test_without_groups_the_ratio_and_resolution_are_the_medians_as_before():
    direct = _record("direct", 4, [x * 1e-3 for x in LOAD], None)
    adjoint = _record("adjoint", 4, [x * 1.1e-3 for x in LOAD], None)
    time = equal_settings_table(prepare(records_to_frame([direct, adjoint])))
    time = time[time["criterion"] == "time"].iloc[0]
    assert time["paired_rounds"] == 0 and time["resolved"] is False  # overlapping intervals: not resolved
    assert time["ratio"] == pytest.approx(time["value_b"] / time["value_a"])


def test_a_pick_says_when_it_is_tied_with_another_cell():
    noise = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.98, 1.01, 0.99]
    fast = _record("direct", 4, [x * 1e-3 for x in LOAD], "g", error=1e-6)
    tied = _record("adjoint", 4, [x * n * 1e-3 for x, n in zip(LOAD, noise)], "g", error=1e-6)
    slow = _record("aca", 4, [x * 2e-3 for x in LOAD], "g", error=1e-6)
    sentences = dict(decision_sentences(prepare(records_to_frame([fast, tied, slow]))))
    text = next(iter(sentences.values()))
    assert "tied with adjoint · rk4 · 4 steps: 1× [0.98–1.02]" in text
    assert "tied with aca" not in text
    # the same cells timed apart: no tie is claimed
    apart = [_record(r.config.method, 4, [x * 1e-3 for x in LOAD], None) for r in (fast, tied)]
    assert "tied" not in next(iter(dict(decision_sentences(prepare(records_to_frame(apart)))).values()))


@pytest.mark.slow
def test_the_sweep_gives_a_groups_timings_to_its_ok_members_in_one_process(tmp_path):
    from neural_ode.sweeping.groups import time_group_records

    cells = [CellConfig(**{**TINY, "method": m, "steps": 4}) for m in ("direct", "adjoint", "aca")]
    untimed = [CellRecord(config=cells[0], nfe_forward=16, cpu_peak_bytes=10),
               CellRecord(config=cells[1], nfe_forward=16, cpu_peak_bytes=20),
               CellRecord(config=cells[2], status="crashed", error="killed")]  # fmt: skip
    records = time_group_records(untimed, tmp_dir=tmp_path)
    ok = records[:2]
    assert len({r.time_group for r in ok}) == 1 and ok[0].time_group and {r.time_group_size for r in ok} == {2}
    assert {r.time_repeats for r in ok} == {6} and all(r.time_forward_s > 0 for r in ok)
    assert [r.cpu_peak_bytes for r in ok] == [10, 20]  # the untimed pass's figures stay
    assert records[2] == untimed[2]  # a failed member is not timed
    alone = time_group_records(untimed[:1], tmp_dir=tmp_path)[0]
    assert alone.time_group is None and alone.time_repeats == 6  # a group of one is timed alone
