"""Training stages: the ``stage`` axis, the staged fits of cnf and latent, and the published rows that read them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from neural_ode.apps.published.table import _seminorm_swept
from neural_ode.axes import AXES, ConfigError, problem_keys
from neural_ode.cli import main as cli_main
from neural_ode.config import CellConfig
from neural_ode.measuring.reference import cache_key
from neural_ode.sweeping.plan import plan
from neural_ode.sweeping.presets import PRESETS
from neural_ode.workloads import WORKLOADS, cnf, latent
from neural_ode.workloads.stages import Schedule, stages_table

#: a fit of three iterations, one snapshot after each, on tiny fields (a second or two)
TINY = Schedule(iterations=3, stages=3, lr=1e-2, grid_steps=2)


def test_stage_is_one_axis_of_the_problem_and_only_staged_workloads_take_more_than_zero():
    axis = AXES["stage"]
    assert axis.role == "table" and axis.default == 0 and "stage" in problem_keys()
    assert CellConfig().stage == 0 and CellConfig(workload="cnf", stage=3).stage == 3
    assert {name for name, w in WORKLOADS.items() if w.stages} == {"cnf", "cnf-hutchinson", "latent"}
    with pytest.raises(ConfigError, match=r"workload 'mlp' has no training stages: stage must be 0, got 2 "
                                          r"\(workloads with stages: latent \(0..3\), cnf \(0..3\), "
                                          r"cnf-hutchinson \(0..3\)\)"):  # fmt: skip
        CellConfig(workload="mlp", stage=2)
    with pytest.raises(ConfigError, match=r"workload 'cnf' has training stages 0..3, got stage 4"):
        CellConfig(workload="cnf", stage=4)
    with pytest.raises(ConfigError, match="stage must be a non-negative integer"):
        CellConfig(workload="cnf", stage=-1)


def test_run_refuses_a_stage_the_workload_lacks_with_exit_2_naming_what_is_allowed(tmp_path, capsys):
    code = cli_main(["run", "--workload", "mlp", "--stage", "1", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and "workload 'mlp' has no training stages" in error and "cnf (0..3)" in error
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_the_validation_preset_measures_cnf_and_latent_at_every_stage():
    cells = plan(PRESETS["validation"], {}, _settings())
    for name in ("cnf", "latent"):
        stages = {c.stage for c in cells if c.workload == name}
        assert stages == {0, 1, 2, 3}
    assert {c.stage for c in cells if c.workload not in ("cnf", "latent")} == {0}


def _settings():
    from neural_ode.commands.run import run_settings

    return run_settings({}, PRESETS["validation"])


@pytest.mark.parametrize("module", [cnf, latent], ids=["cnf", "latent"])
def test_a_tiny_fit_shows_its_progress_and_nfe_per_stage_and_each_stage_is_its_own_cached_snapshot(
    module, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(module, "SCHEDULE", TINY)
    monkeypatch.setattr(module, "FIT_BATCH", 8)
    name = module.__name__.rsplit(".", 1)[-1]
    sizes = {"width": 6, "layers": 1}
    configs = [CellConfig(workload=name, solver="dopri5", stage=k, **sizes) for k in range(4)]

    WORKLOADS[name].prepare(configs[3])  # fits here, visibly
    shown = capsys.readouterr().err
    assert f"fitting {name}" in shown and "loss=" in shown  # tqdm's bar with the training loss
    fit = module.fitted(configs[0], progress=False)
    assert len(fit["states"]) == 4 and fit["iteration"].tolist() == [0, 1, 2, 3]
    for stage, nfe in enumerate(fit["nfe"].tolist()):
        assert f"{name} stage {stage}/3: iteration {stage}," in shown and f"forward NFE {nfe} (dopri5" in shown
        assert nfe >= 6  # at least one dopri5 step
    table = stages_table(name, module.fit_key(configs[0].dim, 6, 1))
    assert table.splitlines()[1] == "stage,iteration,training_loss,nfe_forward" and len(table.splitlines()) == 6

    WORKLOADS[name].prepare(configs[3])  # cached: nothing trains again
    assert capsys.readouterr().err == ""
    fields = [WORKLOADS[name].build(c).field for c in configs]
    flat = [torch.cat([p.detach().flatten() for p in f.parameters()]) for f in fields]
    untrained = WORKLOADS[name]._untrained(configs[0]).field
    assert torch.equal(flat[0], torch.cat([p.detach().flatten() for p in untrained.parameters()]))
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.equal(flat[a], flat[b]), (a, b)  # every stage its own snapshot
    assert len({cache_key(c) for c in configs}) == 4  # and its own reference


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """Cells as the published rows read them: (workload, stage, method, rtol, nfe forward, nfe backward, outputs)."""
    records = [
        {"workload": w, "stage": s, "method": m, "solver": "dopri5", "rtol": r, "atol": r, "outputs": o,
         "horizon": 1.0, "ok": True, "adaptive": True, "nfe_forward": f, "nfe_backward": b}
        for w, s, m, r, f, b, o in rows
    ]  # fmt: skip
    return pd.DataFrame(records)


def test_the_sweeps_seminorm_pairs_are_shown_per_trained_stage_beside_the_counted_settings():
    """The seminorm row's verdict comes from the counted settings (``published.settings``); the validation
    sweep's own rtol = atol pairs are shown beside it, per stage, with each stage's forward NFE."""
    frame = _frame([
        ("cnf", 0, "adjoint", 1e-5, 20, 26, 1), ("cnf", 0, "adjoint-seminorm", 1e-5, 20, 26, 1),
        ("cnf", 3, "adjoint", 1e-5, 120, 60, 1), ("cnf", 3, "adjoint-seminorm", 1e-5, 120, 30, 1),
        ("spiral", 0, "adjoint", 1e-5, 200, 400, 1), ("spiral", 0, "adjoint-seminorm", 1e-5, 200, 400, 1),
    ])  # fmt: skip
    assert _seminorm_swept(frame) == (
        "the validation sweep (rtol = atol, 3 pairs): median 1.00x; "
        "by stage at rtol 1e-05, cnf: 1.00, 0.50 at stages 0, 3 (forward NFE 20, 120)"
    )  # 26/26, 30/60 and 400/400: the median of the three, stage 3 alone at 0.50
    assert _seminorm_swept(frame[frame["stage"] == 0].drop(columns="stage")).startswith(
        "the validation sweep (rtol = atol, 2 pairs): median 1.00x"
    )  # older sweeps without the stage column read as stage 0
    assert _seminorm_swept(frame[frame["method"] == "adjoint"]) is None  # no pair: nothing added to the row


def test_labels_name_a_stage_only_where_the_workload_has_stages():
    """spiral and digits are fitted but stage-less: "stage 0" beside them would read as untrained."""
    from neural_ode.axes import label

    keys = ["method", "workload", "stage"]
    assert label({"method": "adjoint", "workload": "spiral", "stage": 0}, keys) == "adjoint · spiral"
    assert label({"method": "adjoint", "workload": "cnf", "stage": 0}, keys) == "adjoint · cnf · stage 0"
    assert label({"method": "adjoint", "workload": "latent", "stage": 3}, keys) == "adjoint · latent · stage 3"


def test_panel_titles_name_a_stage_only_where_the_workload_has_stages():
    import pandas as pd

    from neural_ode.reporting.tables.decisions import problem_text

    frame = pd.DataFrame({"workload": ["spiral", "cnf", "cnf"], "stage": [0, 0, 2], "horizon": [1.0, 1.0, 1.0]})
    assert problem_text({"workload": "spiral", "stage": 0, "horizon": 1.0}, frame) == "spiral"
    assert problem_text({"workload": "cnf", "stage": 2, "horizon": 1.0}, frame) == "cnf (stage 2)"
