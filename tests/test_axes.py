"""The axes of a cell: one declaration reaches every place that builds, pairs, groups or labels cells."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neural_ode.axes import AXES, Axis, ConfigError, config_identity, declare, identity, line_keys, problem_keys
from neural_ode.config import CellConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neural_ode"


def test_roles_derive_every_grouping():
    expected = {"workload", "method", "solver", "steps", "horizon", "rtol", "atol", "land", "batch", "width", "dim"}
    assert set(config_identity()) >= expected | {"layers", "outputs", "dtype", "device", "seed", "threads"}
    settings = {"repeats", "warmup", "timeout_s", "max_repeats", "ci_halfwidth", "time_budget_s"}
    assert not (settings | {"hostname", "git_commit"}) & set(config_identity())
    assert {"hostname", "git_commit", "torch_version"} <= set(identity())
    # a line is drawn along the depth axes: every other identity axis fixes it
    assert set(line_keys()) == set(identity()) - {"steps", "horizon", "rtol", "atol"}
    # a problem is what the user does not choose
    assert {"workload", "horizon", "batch", "layers", "outputs"} <= set(problem_keys())
    assert not {"method", "solver", "steps", "rtol", "land", "dtype"} & set(problem_keys())
    assert [f.name for f in dataclasses.fields(CellConfig)] == [a.name for a in AXES.values() if a.config]


def test_every_setting_axis_is_a_run_option_a_config_key_a_cell_field_and_a_results_column(tmp_path):
    import argparse

    from neural_ode.axes import setting_axes, setting_key
    from neural_ode.commands import _run_options as run_options
    from neural_ode.commands import run as run_command
    from neural_ode.results.frame import results_frame
    from neural_ode.results.record import CellRecord
    from neural_ode.sweeping.presets import PRESETS

    names = [a.name for a in setting_axes()]
    assert names == ["repeats", "warmup", "timeout_s", "max_repeats", "ci_halfwidth", "time_budget_s"]
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    help_text = parser.format_help()
    assert all(f"--{setting_key(a).replace('_', '-')}" in help_text for a in setting_axes())
    (tmp_path / "s.toml").write_text("repeats = 7\nmax_repeats = 40\nci_halfwidth = 0.02\ntime_budget = 3\n")
    settings = run_command.run_settings(run_options.read_config(str(tmp_path / "s.toml")), PRESETS["quick"])
    assert (settings.repeats, settings.max_repeats, settings.ci_halfwidth, settings.time_budget_s) == (7, 40, 0.02, 3.0)
    with pytest.raises(ConfigError, match="--ci-halfwidth takes positive numbers of at most 1"):
        run_command.run_settings({"ci_halfwidth": "5"}, PRESETS["quick"])
    cell = CellConfig(max_repeats=9, ci_halfwidth=0.1, time_budget_s=2.0)
    frame = results_frame([CellRecord(config=cell)])
    assert {name: frame[name].iloc[0] for name in names[3:]} == {"max_repeats": 9, "ci_halfwidth": 0.1,
                                                                   "time_budget_s": 2.0}  # fmt: skip


def test_an_axis_is_declared_once_and_checks_its_values():
    with pytest.raises(ValueError, match="already declared"):
        declare(Axis("steps", int, "depth", "again"))
    with pytest.raises(ValueError, match="unknown role"):
        Axis("x", int, "colour", "no such role")
    with pytest.raises(ConfigError, match="land must be true or false"):
        CellConfig(land="yes")
    with pytest.raises(ConfigError, match="unknown dtype 'float16'; allowed: float32, float64"):
        CellConfig(dtype="float16")
    assert AXES["land"].text(True) == "landed on the output times"
    assert AXES["rtol"].text(1e-5) == "rtol 1e-05"
    assert AXES["steps"].text(8.0) == "8 steps"


# Declares a throwaway axis before anything else is imported and follows it everywhere cells are
# built, parsed, stored, paired, grouped, labelled and summarised. Cells are measured in this
# process (a tiny euler grid, its reference cached in the test's folder), two values of the axis each.
SCRIPT = textwrap.dedent(
    """
    import argparse, dataclasses, json, sys
    from pathlib import Path

    from neural_ode.axes import Axis, declare

    declare(Axis("tag", str, "line", "a throwaway axis declared by the test", "a"))

    import matplotlib.figure
    import pandas as pd

    from neural_ode.commands import _run_options as run_options
    from neural_ode.commands import run as run_command
    from neural_ode.config import CellConfig
    from neural_ode.measuring.cell import measure_cell
    from neural_ode.reporting import render_report
    from neural_ode.reporting.claims.paper import claims_table
    from neural_ode.reporting.columns import prepare
    from neural_ode.reporting.figures.draw import draw_all
    from neural_ode.results.compare import CompareError, compare_frames
    from neural_ode.results.frame import results_frame, summary_table, write_csv
    from neural_ode.sweeping.plan import RunSettings, plan
    from neural_ode.sweeping.presets import PRESETS

    out = Path(sys.argv[1])
    seen = {"config": "tag" in {f.name for f in dataclasses.fields(CellConfig)}}
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    seen["help"] = "--tag LIST" in parser.format_help()
    (out / "sweep.toml").write_text('tag = "a,b"\\nmethod = "direct,adjoint"\\nsolver = "euler"\\nsteps = [2, 4]\\n'
                                    'batch = 2\\nwidth = 4\\ndim = 2\\n')
    settings = run_options.read_config(str(out / "sweep.toml"))
    axes = {k: v for k, v in settings.items() if k in run_options.CONFIG_KEYS and k != "preset"}
    cells = plan(PRESETS["quick"], axes, RunSettings(repeats=1, warmup=0, timeout_s=120))
    seen["toml"] = sorted({c.tag for c in cells})
    records = [measure_cell(c, rss="skip") for c in cells]
    assert all(r.status == "ok" for r in records), [r.error for r in records]
    frame = results_frame(records)
    write_csv(frame, out / "results.csv")
    seen["csv"] = sorted(pd.read_csv(out / "results.csv")["tag"].unique())

    legends = []
    savefig = matplotlib.figure.Figure.savefig

    def record_legends(fig, *args, **kwargs):  # every legend of every figure the report draws
        for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
            if legend is not None:
                legends.extend(text.get_text() for text in legend.get_texts())
        return savefig(fig, *args, **kwargs)

    render_report(frame, out / "report")
    matplotlib.figure.Figure.savefig = record_legends
    draw_all(prepare(frame), out / "figures", workers=1)  # in this process, so the legends are seen
    seen["legend"] = sorted({t for t in legends if "tag=" in t})[:2]
    seen["fits"] = sorted(pd.read_csv(out / "report" / "fits.csv")["tag"].dropna().unique())
    seen["choices"] = sorted(pd.read_csv(out / "report" / "choices.csv")["tag"].dropna().unique())
    claims = claims_table(prepare(frame))
    named = claims["measured"].str
    seen["claims"] = bool(named.contains("tag=a").any() and named.contains("tag=b").any())
    seen["summary"] = sorted(summary_table(frame)["tag"].unique())
    base, new = frame[frame["tag"] == "a"], frame[frame["tag"] == "b"]
    try:
        compare_frames(base, new)
        seen["compare"] = "paired"
    except CompareError as exc:
        seen["compare"] = str(exc)
    both = compare_frames(base, frame)
    seen["compare_both"] = [both.paired, both.unpaired.to_dict("records")]
    print(json.dumps(seen))
    """
)


@pytest.mark.slow
def test_a_declared_axis_reaches_config_cli_toml_csv_compare_claims_fits_choices_legends_and_summary(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "NEURAL_ODE_BENCH_CACHE": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["config"] and seen["help"]
    assert seen["toml"] == ["a", "b"]
    assert seen["csv"] == ["a", "b"]
    assert seen["fits"] == ["a", "b"]
    assert seen["choices"] == ["a", "b"]
    assert seen["claims"] is True
    assert seen["summary"] == ["a", "b"]
    assert len(seen["legend"]) == 2 and all("tag=" in text for text in seen["legend"])
    # two cells differing only in the axis are never paired
    assert seen["compare"].startswith("no cell of BASE has the configuration of a cell of NEW")
    assert "differ in tag" in seen["compare"]
    paired, unpaired = seen["compare_both"]
    assert paired == 4
    assert unpaired == [{"side": "NEW", "axes": "tag", "cells": 4}]


def test_a_workload_named_on_the_command_line_brings_its_own_sizes():
    from neural_ode.sweeping.plan import RunSettings, plan
    from neural_ode.sweeping.presets import PRESETS

    settings = RunSettings(repeats=1, warmup=0, timeout_s=60)
    (spiral,) = plan(PRESETS["quick"], {"workload": "spiral", "method": "direct", "solver": "dopri5", "tol": "1e-3"},
                     settings)  # fmt: skip
    assert (spiral.batch, spiral.width, spiral.dim, spiral.layers) == (16, 50, 2, 1)
    (conv,) = plan(PRESETS["quick"], {"workload": "conv", "method": "direct", "solver": "rk4", "steps": "2"}, settings)
    assert (conv.batch, conv.width) == (32, 64)
    # the preset's own workload keeps the preset's sizes; a size given is taken as given
    (mlp,) = plan(PRESETS["quick"], {"workload": "mlp", "method": "direct", "solver": "rk4", "steps": "2"}, settings)
    assert (mlp.batch, mlp.width) == (128, 256)
    (given,) = plan(PRESETS["quick"], {"workload": "spiral", "method": "direct", "solver": "rk4", "steps": "2",
                                       "batch": "3"}, settings)  # fmt: skip
    assert (given.batch, given.width) == (3, 50)


SWEEP = ["--workload", "mlp", "--method", "adjoint", "--solver", "dopri5", "--tol", "1e-3", "--land", "true,false",
         "--layers", "1,2", "--outputs", "1,4", "--batch", "2", "--width", "4", "--dim", "2", "--repeats", "1",
         "--warmup", "0", "--timeout", "120"]  # fmt: skip


@pytest.fixture(scope="module")
def land_layers_outputs(tmp_path_factory):
    """One measured sweep over land x layers x outputs (8 adjoint cells)."""
    from neural_ode.cli import main as cli_main

    out = tmp_path_factory.mktemp("identity") / "R"
    assert cli_main(["run", *SWEEP, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_compare_pairs_every_cell_of_a_land_layers_outputs_sweep_and_names_the_changed_one(
    land_layers_outputs, tmp_path, capsys
):
    import shutil

    from neural_ode.cli import main as cli_main

    copy = tmp_path / "R2"
    copy.mkdir()
    shutil.copy(land_layers_outputs / "results.jsonl", copy / "results.jsonl")
    capsys.readouterr()
    assert cli_main(["compare", str(land_layers_outputs), str(copy), "--timings", "off"]) == 0
    out = capsys.readouterr().out
    assert "8 cells paired" in out and "unpaired: 0 of BASE, 0 of NEW" in out and "0 regressions" in out
    # one layers=2 cell's NFE rises in R2: exit 1, naming that cell (its layers, landing and outputs)
    rows = [json.loads(line) for line in (copy / "results.jsonl").read_text().splitlines()]
    changed = next(r for r in rows if r["layers"] == 2 and r["land"] and r["outputs"] == 4)
    changed["nfe_forward"] += 6
    (copy / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["compare", str(land_layers_outputs), str(copy), "--timings", "off"]) == 1
    out = capsys.readouterr().out
    (line,) = [text for text in out.splitlines() if text.startswith("REGRESSION")]
    assert "nfe_forward" in line and "layers=2" in line and "outputs=4" in line and "landed" in line
    assert "layers=1" not in line


@pytest.mark.slow
def test_compare_refuses_other_machines_unless_asked_and_report_counts_a_cell_once(
    land_layers_outputs, tmp_path, capsys
):
    from neural_ode.cli import main as cli_main

    rows = [json.loads(line) for line in (land_layers_outputs / "results.jsonl").read_text().splitlines()]
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.jsonl").write_text("".join(json.dumps({**r, "hostname": "elsewhere"}) + "\n" for r in rows))
    capsys.readouterr()
    assert cli_main(["compare", str(land_layers_outputs), str(other), "--timings", "off"]) == 2
    err = capsys.readouterr().err
    assert "different machines or library versions (hostname" in err and "--across-machines" in err
    assert cli_main(["compare", str(land_layers_outputs), str(other), "--timings", "off", "--across-machines"]) == 0
    assert "compared across machines (--across-machines): hostname" in capsys.readouterr().out
    # report R R: every cell once
    report = ["report", str(land_layers_outputs), str(land_layers_outputs), "--out", str(tmp_path / "rr")]
    assert cli_main([*report, "--no-figures"]) == 0  # the cell count is in the text
    captured = capsys.readouterr()
    assert "(8 cells;" in captured.out and "measured more than once" not in captured.err  # identical: merged
    # a conflicting duplicate (a figure differs) is named, and the latest measurement is kept
    later = [{**r, "nfe_backward": r["nfe_backward"] + 1, "measured_at": "2999-01-01T00:00:00+00:00"} for r in rows[:1]]
    elsewhere = "".join(json.dumps({**r, "hostname": "elsewhere"}) + "\n" for r in later)
    (other / "results.jsonl").write_text(elsewhere)
    from neural_ode.commands.report import read_inputs

    frame = read_inputs([land_layers_outputs, other / "results.jsonl"])
    assert len(frame) == 9  # the other host's cell is another cell
    (other / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in later))
    frame = read_inputs([land_layers_outputs, other / "results.jsonl"])
    assert len(frame) == 8
    assert "1 cells were measured more than once with different figures" in capsys.readouterr().err
    assert int(frame["nfe_backward"].max()) >= rows[0]["nfe_backward"] + 1
