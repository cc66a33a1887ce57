"""The report on the outputs axis: the figure is drawn and the adjoint's memory claim names its condition."""

from __future__ import annotations

import pandas as pd

from neural_ode.reporting.claims.outputs import outputs_claims
from neural_ode.reporting.claims.paper import claims_table
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.figures.draw import Style
from neural_ode.reporting.figures.outputs import outputs_figure


def rows(outputs_values=(1, 10, 100)):
    out = []
    for method, per_output in (("direct", 1000), ("adjoint", 100)):
        for steps in (8, 16):
            for outputs in outputs_values:
                out.append(
                    dict(
                        workload="mlp", method=method, solver="rk4", steps=steps, horizon=1.0, batch=4, width=8,
                        dim=2, device="cpu", dtype="float32", seed=0, status="ok", outputs=outputs, layers=1,
                        nfe_forward=4 * steps, nfe_backward=4 * steps if method == "adjoint" else 0,
                        saved_bytes=(steps * 5000 if method == "direct" else 5000) + per_output * outputs,
                        time_forward_s=0.01 * steps, time_backward_s=0.01 * steps,
                    )
                )  # fmt: skip
    return out


def test_the_outputs_figure_is_drawn_from_an_outputs_sweep(tmp_path):
    frame = prepare(pd.DataFrame(rows()))
    result = outputs_figure(frame, tmp_path, Style(frame))
    assert result.path is not None and result.path.exists()


def test_without_an_outputs_sweep_the_figure_says_why(tmp_path):
    frame = prepare(pd.DataFrame(rows((1,))))
    result = outputs_figure(frame, tmp_path, Style(frame))
    assert result.path is None and "--outputs" in result.note


def test_the_adjoint_memory_claims_name_the_outputs_condition():
    frame = prepare(pd.DataFrame(rows()))
    claims = claims_table(frame)
    depth_claim = claims[claims["claim"].str.startswith("adjoint (ODE-Net) memory is O(1) in depth")]
    assert depth_claim["claim"].str.contains("output times").all()
    outputs_rows = outputs_claims(frame)
    assert outputs_rows[0]["claim"].startswith("adjoint memory is O(1) in the number of output times")
    assert outputs_rows[0]["verdict"] == "does not hold"  # 5000 + 100 N bytes grows with N
    single = claims_table(prepare(pd.DataFrame(rows((1,)))))
    assert single["claim"].str.contains("at 1 output time").any()
