"""Instruction counts under callgrind: declared in the schema, compared within their tolerance, a status (not a
crash) where valgrind is absent; where it is installed, two runs agree and rk4's loop doubles with its steps."""

from __future__ import annotations

import shutil

import pytest

from neural_ode.config import CellConfig
from neural_ode.measuring import instructions
from neural_ode.measuring.cell import measure_cell
from neural_ode.results.compare import EXACT_METRICS, Thresholds, compare_figure
from neural_ode.results.schema import METRICS

TINY = {"workload": "mlp", "method": "direct", "solver": "rk4", "batch": 4, "width": 8, "dim": 2, "timeout_s": 3000.0}
HAS_VALGRIND = instructions.unavailable() is None


def test_declared_as_exact_counts_with_a_tolerance():
    for name in ("instructions_forward", "instructions_backward"):
        metric = METRICS[name]
        assert (metric.kind, metric.dtype, metric.unit, metric.rtol) == ("exact", int, "count", 0.02)
        assert name in EXACT_METRICS
    assert METRICS["nfe_forward"].rtol == 0.0  # the other exact figures stay exact


def test_compare_takes_the_declared_tolerance():
    base = {"instructions_forward": 1_000_000}
    within = compare_figure("instructions_forward", base, {"instructions_forward": 1_019_000}, Thresholds())
    beyond = compare_figure("instructions_forward", base, {"instructions_forward": 1_021_000}, Thresholds())
    assert within["change"] == "same" and beyond["change"] == "regression"
    nfe = compare_figure("nfe_forward", {"nfe_forward": 100}, {"nfe_forward": 101}, Thresholds())
    assert nfe["change"] == "regression" and nfe["test"] == "exact"


def test_without_valgrind_the_status_says_why_and_the_cell_is_measured(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None if "grind" in name else real_which(name))
    record = measure_cell(CellConfig(**TINY, steps=4), rss="skip", reference=False, peak=False, timing=False,
                          roundoff=False, instructions=True)  # fmt: skip
    assert record.status == "ok" and record.nfe_forward == 16
    assert record.instructions_forward is None and record.instructions_backward is None
    assert record.instructions_status.startswith("not measured: valgrind and callgrind_control not installed")


def test_totals_of_a_callgrind_dump(tmp_path):
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n0 10\nsummary: 12345\n"
                    "totals: 12345\n")  # fmt: skip
    assert instructions._totals(dump) == 12345
    assert instructions._totals(tmp_path / "absent") is None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_VALGRIND, reason=f"valgrind's callgrind is needed: {instructions.unavailable()}")
def test_two_runs_agree_and_rk4_loop_doubles_with_its_steps():
    """Two valgrind processes: measure_cell of rk4 at 4 steps, and one process counting rk4 at 4, 8 and 16
    steps. The two 4-step counts agree within the declared tolerance; the instructions the solver loop
    adds from 8 to 16 steps are about twice those it adds from 4 to 8 (the loop at 8 steps is twice the
    loop at 4: the fixed part, set-up and loss, cancels in the differences)."""
    record = measure_cell(CellConfig(**TINY, steps=4), rss="skip", reference=False, peak=False, timing=False,
                          roundoff=False, instructions=True)  # fmt: skip
    assert record.instructions_status == instructions.MEASURED, record.instructions_status
    counts = instructions.measure_instructions([CellConfig(**TINY, steps=s).to_dict() for s in (4, 8, 16)])
    assert [c["instructions_status"] for c in counts] == [instructions.MEASURED] * 3
    for name in ("instructions_forward", "instructions_backward"):
        once, again = getattr(record, name), counts[0][name]
        assert once > 1_000_000
        assert abs(once - again) <= METRICS[name].rtol * max(once, again), (name, once, again)
        at4, at8, at16 = (c[name] for c in counts)
        assert 1.8 <= (at16 - at8) / (at8 - at4) <= 2.2, (name, at4, at8, at16)
