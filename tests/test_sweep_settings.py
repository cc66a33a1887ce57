"""The sweep as an object (:mod:`neural_ode.sweeping.sweep`) and the settings it gives its cell
processes (:mod:`neural_ode.sweeping.process`): threads, commit and instruction counting travel as
arguments, never through environment variables."""

from __future__ import annotations

import json
import os

import pytest

from neural_ode.config import CellConfig
from neural_ode.results.record import CellRecord
from neural_ode.sweeping.process import DEFAULT_SETTINGS, ProcessSettings

CELL = CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2, width=4, timeout_s=60)


def record_settings(config: dict, record_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    """A cell-process target that measures nothing: its record says the threads and commit it was given."""
    threads = settings.apply()
    record = CellRecord(config=CellConfig(**config), threads=threads, git_commit=settings.commit)
    with open(record_path, "w", encoding="utf-8") as handle:
        json.dump(record.to_dict(), handle)


def exit_with_status_3(config: dict, record_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    os._exit(3)


def test_process_settings_round_trip_and_refuse_what_they_do_not_hold():
    settings = ProcessSettings(threads=2, commit="feedface", instructions=True)
    assert ProcessSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert settings.cell_options() == {"instructions": True, "commit": "feedface"}
    with pytest.raises(ValueError, match="unknown process setting 'thread'; allowed: commit, instructions, threads"):
        ProcessSettings.from_dict({"thread": 2})
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        ProcessSettings.from_dict({"threads": 0})


def test_a_cell_process_takes_the_sweeps_threads_and_commit_as_arguments(tmp_path):
    from neural_ode.sweeping.runner import run_cell

    before = dict(os.environ)
    settings = ProcessSettings(threads=2, commit="feedface")
    record = run_cell(CELL, target=record_settings, tmp_dir=tmp_path, settings=settings)
    assert (record.status, record.threads, record.git_commit) == ("ok", 2, "feedface")
    assert dict(os.environ) == before  # nothing passed through this process's environment
    # a cell process that dies: its record still carries the sweep's commit
    failed = run_cell(CELL, target=exit_with_status_3, tmp_dir=tmp_path, settings=settings)
    assert (failed.status, failed.git_commit) == ("crashed", "feedface")
    # given none, the target keeps its defaults: torch's threads, no commit of the sweep's
    plain = run_cell(CELL, target=record_settings, tmp_dir=tmp_path)
    assert plain.status == "ok" and plain.git_commit is None


def test_the_run_command_builds_its_sweep_with_the_settings_given(tmp_path):
    from neural_ode.commands.run import plan_sweep
    from neural_ode.measuring.provenance import checkout_commit

    before = dict(os.environ)
    given = {"workload": "mlp", "solver": "rk4", "steps": "2", "threads": "3", "instructions": True}
    sweep = plan_sweep({**given, "out": str(tmp_path)})
    assert sweep.process == ProcessSettings(threads=3, commit=checkout_commit(), instructions=True)
    assert sweep.scheduler is None and not sweep.resume and sweep.out_dir == tmp_path
    assert {cell.workload for cell in sweep.cells} == {"mlp"} and {cell.steps for cell in sweep.cells} == {2}
    assert dict(os.environ) == before and not any(tmp_path.iterdir())  # nothing set, nothing written


def test_a_sweep_gives_its_settings_to_the_runner(monkeypatch, tmp_path):
    from neural_ode.sweeping import sweep as sweep_module
    from neural_ode.sweeping.runner import SweepOutcome

    seen = {}

    def fake_run_sweep(cells, out_dir, **options):
        seen.update(options, cells=cells, out_dir=out_dir)
        return SweepOutcome(records=[], skipped=0)

    monkeypatch.setattr(sweep_module, "run_sweep", fake_run_sweep)
    settings = ProcessSettings(threads=1, commit="c0ffee")
    sweep_module.Sweep((CELL,), tmp_path, settings, resume=True, progress=False).run()
    assert seen == {"cells": (CELL,), "out_dir": tmp_path, "resume": True, "progress": False, "settings": settings}

