"""The README's ASV lines, run as written on a fresh clone, keep their results (issue 34).

The lines are read from the README (the block after "keeping its results"), so the test and the
README cannot drift apart. The clone has no .venv of its own: this interpreter's environment stands
in for `. .venv/bin/activate` (its bin first on PATH, the clone first on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def readme_asv_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"keeping its results:\n\n```sh\n(.*?)```", text, flags=re.S)
    assert block, "the README has no ASV block after 'keeping its results:'"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_asv_lines_keep_their_results_on_a_fresh_clone(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and this repository's history")
    bindir = Path(sys.executable).parent
    if not (bindir / "asv").exists():
        pytest.skip("asv is not installed beside this interpreter")
    lines = readme_asv_lines()
    assert lines[0] == ". .venv/bin/activate" and any("--set-commit-hash" in line for line in lines), lines
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # asv.conf.json follows the branch main: a clone of another branch (a worktree's) names its HEAD so
    has_main = subprocess.run(["git", "rev-parse", "--verify", "-q", "main"], cwd=clone, capture_output=True)
    if has_main.returncode != 0:
        subprocess.run(["git", "branch", "main"], cwd=clone, check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(clone),
               HOME=str(home), NEURAL_ODE_BENCH_CACHE=str(tmp_path / "cache"))  # fmt: skip
    for line in lines[1:]:  # the activation is this interpreter's environment, given above
        done = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    results = [p for p in (clone / ".asv" / "results").glob("*/*.json") if p.name.startswith(commit[:8])]
    assert results, sorted(str(p) for p in (clone / ".asv" / "results").rglob("*.json"))
    saved = json.loads(results[0].read_text())
    names = set(saved["results"])
    assert {
        "bench_gradients.RssPeak.track_rss_peak_bytes",
        "bench_gradients.FixedGridFigures.track_nfe_forward",
    } <= names
    columns = saved["result_columns"]
    peaks = dict(zip(columns, saved["results"]["bench_gradients.RssPeak.track_rss_peak_bytes"]))["result"]
    assert any(value is not None and value > 0 for value in peaks), peaks
