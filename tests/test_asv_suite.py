"""The ASV suite imports, is well parametrized, runs, and its results read back as rows.

``asv check`` imports every benchmark module and checks every benchmark's signature against
its parameters; a real ``asv run --python=same`` on a few benchmarks of the ``smoke`` profile
then writes a results directory, which the ASV reader turns into cells.
"""

from __future__ import annotations

import ast
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from benchmarks import common
from neural_ode import METHODS
from neural_ode.methods import available_methods
from neural_ode.results.readers import asv as reader
from neural_ode.results.readers import read_results

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bench_gradients"
EXPECTED = [
    f"{SUITE}.{cls}.{method}" for cls in ("FixedGrid", "Adaptive") for method in ("time_step", "time_forward")
] + [
    f"{SUITE}.{cls}.track_{metric}"
    for cls in ("FixedGridFigures", "AdaptiveFigures")
    for metric in (
        "nfe_forward",
        "nfe_backward",
        "saved_bytes",
        "peak_tensor_bytes",
        "grad_rel_error",
    )
]
SELECTED = rf"^{SUITE}\.(FixedGrid\.time_step|FixedGridFigures\.track_nfe_\w+|AdaptiveFigures\.track_\w+)\b"


def _asv(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asv", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _config(tmp: Path, benchmark_dir: Path) -> Path:
    """The project's asv.conf.json with every output under ``tmp``."""
    from asv.util import load_json

    config = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    config.update(
        repo=str(ROOT),
        benchmark_dir=str(benchmark_dir),
        env_dir=str(tmp / "env"),
        results_dir=str(tmp / "results"),
        html_dir=str(tmp / "html"),
    )
    path = tmp / "asv.conf.json"
    path.write_text(json.dumps(config))
    return path


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    # ASV drops PYTHONPATH in its benchmark processes and reads ASV_PYTHONPATH instead
    env["ASV_PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["HOME"] = str(tmp)  # asv's machine file (~/.asv-machine.json) stays in the temporary directory
    env["NEURAL_ODE_BENCH_PROFILE"] = "smoke"
    env.setdefault("NEURAL_ODE_BENCH_CACHE", str(tmp / "reference-cache"))
    return env


@pytest.mark.slow
def test_asv_check_passes(tmp_path):
    done = _asv(
        ["check", "--python=same", "--config", str(_config(tmp_path, ROOT / "benchmarks"))], ROOT, _env(tmp_path)
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "No problems found" in done.stdout


@pytest.mark.slow
def test_asv_check_fails_on_a_broken_suite(tmp_path):
    """The check above would catch a benchmark that cannot be imported or parametrized."""
    broken = tmp_path / "broken_benchmarks"
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "bench_params.py").write_text(
        "class Suite:\n    params = [[1, 2], ['a']]\n    param_names = ['n', 'm']\n\n"
        "    def time_one_argument_short(self, n):\n        pass\n"
    )
    done = _asv(["check", "--python=same", "--config", str(_config(tmp_path, broken))], ROOT, _env(tmp_path))
    assert done.returncode != 0
    assert "time_one_argument_short" in done.stdout + done.stderr
    (broken / "bench_params.py").write_text("import a_module_that_does_not_exist\n")
    done = _asv(["check", "--python=same", "--config", str(_config(tmp_path, broken))], ROOT, _env(tmp_path))
    assert done.returncode != 0
    assert "a_module_that_does_not_exist" in done.stdout + done.stderr


def _head() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def asv_results(tmp_path_factory) -> tuple[Path, str]:
    """A results directory written by a real ``asv run --python=same --quick`` of a few benchmarks."""
    commit = _head()
    if commit is None:
        pytest.skip("not a git checkout: asv run needs a commit to file results under")
    tmp = tmp_path_factory.mktemp("asv")
    env = _env(tmp)
    config = str(_config(tmp, ROOT / "benchmarks"))
    done = _asv(["machine", "--yes", "--machine", "ci", "--config", config], ROOT, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = ["run", "--python=same", "--quick", "--machine", "ci", "--set-commit-hash", commit, "--bench", SELECTED]
    done = _asv([*run, "--config", config], ROOT, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp / "results", commit


@pytest.mark.slow
def test_discovery_lists_every_benchmark_with_its_parameters(asv_results):
    results, _ = asv_results
    benchmarks = json.loads((results / "benchmarks.json").read_text())
    assert set(EXPECTED) <= set(benchmarks)
    for name in EXPECTED:
        info = benchmarks[name]
        assert info["param_names"] == ["cell"], name
        cells = [ast.literal_eval(value) for value in info["params"][0]]
        methods = {word.split("=")[1] for cell in cells for word in cell.split() if word.startswith("method=")}
        solvers = {word.split("=")[1] for cell in cells for word in cell.split() if word.startswith("solver=")}
        # every registered method that supports a solver of the suite is benchmarked, and only runnable cells
        runnable = {m for m in available_methods() if any(METHODS[m].supports(s) for s in solvers)}
        assert methods == runnable, name
        assert all("device=cuda" not in cell for cell in cells) or torch.cuda.is_available()
        for cell in cells:
            fields = dict(word.split("=") for word in cell.split())
            assert METHODS[fields["method"]].supports(fields["solver"]), cell
    assert benchmarks[f"{SUITE}.AdaptiveFigures.track_nfe_forward"]["unit"] == "evaluations"
    assert benchmarks[f"{SUITE}.FixedGridFigures.track_saved_bytes"]["unit"] == "bytes"
    assert not any("peakmem" in name for name in benchmarks)
    assert benchmarks[f"{SUITE}.RssPeak.track_rss_peak_bytes"]["unit"] == "bytes"


@pytest.mark.slow
def test_reader_maps_asv_results_back_to_cells(asv_results):
    results, commit = asv_results
    assert reader.can_read(results)
    frame = read_results([results])
    assert set(frame["device"]) == {"cpu"}  # CUDA cells were skipped: no rows
    assert set(frame["status"]) == {"ok"}
    assert set(frame["git_commit"]) == {commit}
    fixed = frame[frame["solver"] == "euler"].set_index("method")
    adaptive = frame[frame["solver"] == "dopri5"].set_index("method")
    assert set(fixed.index) == {name for name in available_methods() if METHODS[name].supports("euler")}
    assert set(adaptive.index) == {name for name in available_methods() if METHODS[name].supports("dopri5")}
    # Euler, 10 steps: 10 evaluations forward; backward 0 for direct, 10 for the adjoints
    assert fixed["nfe_forward"].tolist() == [10] * len(fixed)  # every method that takes euler
    assert fixed.loc["direct", "nfe_backward"] == 0 and fixed.loc["adjoint", "nfe_backward"] == 10
    assert (fixed["steps"] == 10).all()
    # the smoke cells' sizes, named in each cell parameter, read back
    for field, value in common.PROFILES["smoke"].sizes:
        assert (frame[field] == value).all(), field
    assert (fixed["time_total_s"] > 0).all()
    # adaptive cells: tol mapped to rtol and atol, the figures of AdaptiveFigures read
    assert (adaptive["rtol"] == 1e-3).all() and (adaptive["atol"] == 1e-3).all()
    assert adaptive.loc["direct", "nfe_backward"] == 0 and adaptive.loc["adjoint", "nfe_backward"] > 0
    assert adaptive.loc["direct", "saved_bytes"] > adaptive.loc["adjoint", "saved_bytes"]
    assert (adaptive["grad_rel_error"] > 0).all()
    # peak tensor bytes of CPU cells are the CPU peak
    assert (adaptive["cpu_peak_bytes"] > 0).all()
    assert frame["measured_at"].notna().all() and frame["commit_date"].notna().all()
    # a machine directory reads the same cells
    assert reader.can_read(results / "ci")
    assert len(read_results([results / "ci"])) == len(frame)
    # one result file alone reads the same cells
    (result_file,) = [p for p in (results / "ci").glob("*.json") if p.name != "machine.json"]
    assert reader.can_read(result_file)
    assert len(read_results([result_file])) == len(frame)


def test_reader_is_specific(tmp_path):
    assert not reader.can_read(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    assert not reader.can_read(tmp_path / "results.json")


def test_asv_environment_is_pinned_from_constraints():
    from asv.util import load_json

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    requirements = load_json(str(ROOT / "asv.conf.json"), js_comments=True)["matrix"]["req"]
    for name, spec in requirements.items():
        assert spec == f"=={pins[name.lower()]}", name


CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome")) if p), None
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with every non-local host unresolvable."""
    done = subprocess.run(
        [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=20000",
            "--dump-dom", url,
        ],
        check=False, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium")
def test_published_pages_render_offline_with_graphs(asv_results, tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import asv_publish_offline
    finally:
        sys.path.pop(0)
    results, commit = asv_results
    html = tmp_path / "html"
    # asv publishes graphs of the configured branches' commits: name the measured commit itself,
    # which may be on no branch yet
    settings = json.loads((results.parent / "asv.conf.json").read_text())
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps(dict(settings, branches=[commit])))
    done = _asv(["publish", "--config", str(config), "--html-dir", str(html)], ROOT, _env(results.parent))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pages = asv_publish_offline.make_offline(html)
    assert html / "index.html" in pages
    index = (html / "index.html").read_text()
    assert "https://" not in "".join(re.findall(r"<(?:script|link)\b[^>]*>", index))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        summary = _dom(base, tmp_path / "profile1")
        graph = _dom(base + f"#{SUITE}.FixedGridFigures.track_nfe_forward", tmp_path / "profile2")
        timing = _dom(base + f"#{SUITE}.FixedGrid.time_step", tmp_path / "profile3")
    finally:
        server.shutdown()
        server.server_close()
    for dom in (summary, graph, timing):
        # not redirected to ASV's error page (what a script that fails to load does)
        assert "airspeed velocity" in dom and "continental origin of swallow" not in dom
    assert f"{SUITE}.FixedGridFigures.track_nfe_forward" in summary  # the summary grid is drawn
    # each benchmark's graph is drawn (the summary's thumbnails load lazily, as they scroll into view)
    for dom in (graph, timing):
        assert 'class="flot-base"' in dom and 'class="flot-overlay"' in dom
