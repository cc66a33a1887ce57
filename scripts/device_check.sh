#!/usr/bin/env bash
# Every CUDA path of the project, run on a machine with a CUDA GPU, in under 8 minutes:
#   1. a CUDA sweep through every gradient method (tiny MLP cells, rk4 and dopri5) -> OUT/sweep/
#   2. cuda_peak_bytes cross-checked against torch.cuda.max_memory_allocated      -> OUT/peak_check.json
#   3. the ASV suite's CUDA cells (smoke profile; timed and figure benchmarks; RssPeak, a
#      host-RSS figure measured in a fresh process per cell, is left out for time) -> OUT/asv/
#   4. the pytest-benchmark suite's CUDA cells (smoke profile)                    -> OUT/pytest-benchmark.json
#   5. the speed script on CUDA (eager contenders; compiling would not fit the time) -> OUT/speed/
# and a summary, OUT/device_check.md (one line per part: exit status, seconds, log).
# Time limits per part add up to 480 s (a part over its limit is killed and counts as failed).
#
# Usage: scripts/device_check.sh [OUT]        (default reports/cuda; PYTHON=... to pick the interpreter)
# Exit status: 0 every part passed, 1 some part failed (see the summary), 2 no CUDA GPU here.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${1:-reports/cuda}

if ! version=$("$PYTHON" -c 'import sys, torch; print(torch.__version__); sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null); then
    echo "device_check: no CUDA GPU here (torch ${version:-not importable}): nothing to check" >&2
    exit 2
fi

mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export NEURAL_ODE_BENCH_PROFILE=smoke
SUMMARY="$OUT/device_check.md"
failed=0
{
    echo "# Device check"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    "$PYTHON" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")'
    echo
    echo "| part | exit status | seconds | log |"
    echo "|---|---|---|---|"
} >"$SUMMARY"

# part NAME SECONDS COMMAND...: run COMMAND under a time limit, log it, add a summary line
part() {
    local name=$1 limit=$2 start status
    shift 2
    start=$(date +%s)
    echo "device_check: $name (at most ${limit} s)"
    set +e
    timeout --kill-after=10 "$limit" "$@" >"$OUT/logs/$name.log" 2>&1
    status=$?
    set -e
    [ "$status" -eq 0 ] || failed=1
    [ "$status" -ne 124 ] || echo "device_check: $name timed out after ${limit} s" >>"$OUT/logs/$name.log"
    echo "| $name | $status | $(($(date +%s) - start)) | logs/$name.log |" >>"$SUMMARY"
}

METHODS=$("$PYTHON" -c 'from neural_ode import METHODS; print(",".join(n for n, m in METHODS.items() if m.unavailable() is None))')
rm -rf "$OUT/sweep"
part sweep 110 "$PYTHON" -m neural_ode.cli run --device cuda --workload mlp --method "$METHODS" \
    --solver rk4,dopri5 --steps 10 --tol 1e-3 --batch 16 --width 32 --dim 2 \
    --repeats 3 --warmup 1 --timeout 60 --out "$OUT/sweep"
part sweep-status 20 "$PYTHON" - "$OUT/sweep/results.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
bad = [r for r in records if r.get("device") != "cuda" or r.get("status") != "ok" or r.get("cuda_peak_bytes") is None]
for r in records:
    print(r.get("method"), r.get("solver"), r.get("status"), r.get("cuda_peak_bytes"), r.get("time_total_s"))
print(f"{len(records)} CUDA records, {len(bad)} not ok")
sys.exit(1 if bad or not records else 0)
PY
part peak-check 50 "$PYTHON" scripts/cuda_peak_check.py --sweep "$OUT/sweep" --out "$OUT/peak_check.json"

# ASV: its own config with every output under OUT/asv, the machine file there too
mkdir -p "$OUT/asv"
"$PYTHON" - "$OUT/asv" <<'PY'
import json, sys
from pathlib import Path
from asv.util import load_json
out = Path(sys.argv[1])
config = load_json("asv.conf.json", js_comments=True)
config.update(repo=str(Path.cwd()), benchmark_dir=str(Path.cwd() / "benchmarks"), env_dir=str(out / "env"),
              results_dir=str(out / "results"), html_dir=str(out / "html"))
(out / "asv.conf.json").write_text(json.dumps(config))
PY
export ASV_PYTHONPATH="$PYTHONPATH"
part asv 160 env HOME="$OUT/asv" sh -c '"$0" -m asv machine --yes --machine gpu --config "$1" &&
    "$0" -m asv run --python=same --quick --show-stderr --machine gpu --set-commit-hash "$(git rev-parse HEAD)" \
        --bench "^bench_gradients\.(FixedGrid|Adaptive)(Figures)?\..*device=cuda" --config "$1"' "$PYTHON" "$OUT/asv/asv.conf.json"
part asv-cuda-cells 20 "$PYTHON" - "$OUT/asv/results" <<'PY'
import sys
from neural_ode.results.readers import asv
table = asv.read(sys.argv[1])
rows = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
cuda = [r for r in rows if r.get("device") == "cuda"]
bad = [r for r in cuda if isinstance(r.get("status"), str) and r["status"] != "ok"]  # the reader: "error"
for r in cuda:
    print(r.get("method"), r.get("solver"), r.get("status"), r.get("cuda_peak_bytes"))
print(f"{len(cuda)} CUDA cells, {len(bad)} not ok")
sys.exit(1 if bad or not cuda else 0)
PY

part pytest-benchmark 60 "$PYTHON" -m pytest -p no:cacheprovider -q benchmarks/test_bench_gradients.py -k cuda \
    --benchmark-only --benchmark-json="$OUT/pytest-benchmark.json" \
    --benchmark-min-rounds=2 --benchmark-max-time=0.01 --benchmark-warmup=off
part speed 60 "$PYTHON" scripts/compare_solver_speed.py --device cuda --repeats 6 --no-compiled --out "$OUT/speed"

echo >>"$SUMMARY"
[ "$failed" -eq 0 ] && echo "Every part passed." >>"$SUMMARY" || echo "Some part failed: see its log." >>"$SUMMARY"
echo "device_check: summary in $SUMMARY"
exit "$failed"
