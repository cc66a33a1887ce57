"""Side-by-side speed of bare evaluations, torchdiffeq, torchode and the lean core, and of the gradient methods.

Times, interleaved round-robin in one process (so machine noise hits every contender alike),
and reports medians with their interquartile ranges and the ratios the issue asks about:

1. the solver's own cost without gradient, on a small model (state 2, hidden 50, batch 16) and
   on the default one (state 64, hidden 256, batch 256), for dopri5 (rtol = atol = --tol) and a
   fixed grid (heun2 over N steps, the fixed-grid method all three libraries share):
   ``bare`` = NFE bare evaluations of the vector field under no_grad (the floor),
   ``torchdiffeq`` = ``odeint``, ``torchode`` = torchode's ``AutoDiffAdjoint`` through the
   ``torchode`` method (per-sample step sizes), ``lean`` = the lean core (grid or step-size
   control built per call). Each contender's NFE is counted once (outside the timed runs); its
   ratio is, per round, its time over (its NFE x one bare evaluation of the same round): the
   floor is 1.0. Medians and quartiles of these per-round ratios are reported;
2. forward+backward of torchdiffeq's adjoint, own-adjoint and direct (``--all-methods``: every
   gradient method in ``METHODS`` that takes heun2), with equal steps,
   on both models, through the measuring core's
   :class:`~neural_ode.measuring.cell.GradientPass`, as per-round ratios to torchdiffeq's adjoint;
3. where the lean core's time beyond the floor goes: torch.profiler operator counts per step of
   a lean solve minus those of its NFE bare evaluations (counts are deterministic; the CPU times
   beside them are as noisy as the machine);
4. unless ``--no-compiled``: torchode's solve and the lean core's fixed-grid step under
   ``torch.compile`` (compile time, the first call's time minus an eager call's, reported apart;
   it depends on Inductor's on-disk cache, and recompiles after the first call fall in the
   untimed warm-up rounds; a compile that fails is recorded with its error). The lean core's
   compiled dopri5 compiles one attempted step (stages, error ratio) with the eager step-size
   control around it (``neural_ode.integrators.compiled.CompiledAdaptiveSolver``);
5. with ``--profile``: cProfile of torchdiffeq's and torchode's dopri5 (printed only).

With ``--device cuda`` every timed call ends with ``torch.cuda.synchronize()``.
With ``--out DIR`` it writes ``DIR/speed.md``, ``DIR/speed.csv`` (one row per figure) and
``DIR/speed.json``, with the load average before and after (the machine may be shared).

Usage::

    PYTHONPATH=. python scripts/compare_solver_speed.py --repeats 20 --out reports/speed
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch
import torchdiffeq

from neural_ode import METHODS, CellConfig
from neural_ode.integrators import ADAPTIVE_TABLEAUX, FIXED_TABLEAUX, Stepper, adaptive_solver, fixed_grid, integrate
from neural_ode.integrators.compiled import CompiledAdaptiveSolver, compile_attempt, compile_step, integrate_compiled
from neural_ode.measuring.cell import build_pass, solver_options
from neural_ode.measuring.counting import CountingField
from neural_ode.measuring.timing import synchronizer


def diffrax_module():
    """``scripts/diffrax_contenders.py`` (beside this script), imported by path: JAX is optional."""
    import importlib.util

    path = Path(__file__).with_name("diffrax_contenders.py")
    spec = importlib.util.spec_from_file_location("diffrax_contenders", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SMALL = {"batch": 16, "width": 50, "dim": 2}
LARGE = {"batch": 256, "width": 256, "dim": 64}
#: sizes of --quick (the test's smoke run): both "models" tiny
TINY = {"batch": 4, "width": 8, "dim": 2}
FIXED = "heun2"
#: the contenders of part 1, in the report's column order
CONTENDERS = ("torchdiffeq", "torchode", "torchode compiled", "lean", "lean compiled")


def interleaved(contenders: dict, repeats: int, warmup: int = 2, sync=lambda: None) -> dict[str, list[float]]:
    """Wall times (s) of each contender, ``repeats`` rounds, one call each per round (gc off while timed)."""
    samples = {name: [] for name in contenders}
    for round_ in range(warmup + repeats):
        for name, run in contenders.items():
            gc.collect()
            gc.disable()
            sync()
            start = time.perf_counter()
            run()
            sync()
            elapsed = time.perf_counter() - start
            gc.enable()
            if round_ >= warmup:
                samples[name].append(elapsed)
    return samples


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile (one value: itself thrice)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def spread(times: list[float], ratios: list[float]) -> dict:
    """A row's timing figures: median and interquartile range of the times (ms), and median and
    quartiles of the per-round ratios."""
    time_q1, time_median, time_q3 = quartiles(times)
    q1, median, q3 = quartiles(ratios)
    return {"median_ms": time_median * 1e3, "iqr_ms": (time_q3 - time_q1) * 1e3,
            "ratio_median": median, "ratio_q1": q1, "ratio_q3": q3}  # fmt: skip


def torchode_available() -> bool:
    return METHODS["torchode"].unavailable() is None


def no_grad_solvers(sizes: dict, solver: str, *, steps: int, tol: float, device: str = "cpu") -> tuple:
    """The eager contenders of part 1 for one model and solver: name -> callable(field) solving without grad."""
    adaptive = solver == "dopri5"
    axes = {"rtol": tol, "atol": tol} if adaptive else {"steps": steps}
    config = CellConfig(method="direct", solver=solver, device=device, **axes, **sizes)
    step = build_pass(config)
    y0, t, options = step.problem.y0, step.t, solver_options(config)
    tolerances = {"rtol": tol, "atol": tol} if adaptive else {}
    contenders = {"torchdiffeq": lambda f: torchdiffeq.odeint(f, y0, t, method=solver, options=options, **tolerances)}
    if torchode_available():
        method = METHODS["torchode"]
        rtol, atol = (tol, tol) if adaptive else (None, None)
        contenders["torchode"] = lambda f: method.solve(f, y0, t, solver=solver, rtol=rtol, atol=atol, options=options)
    if adaptive:
        tableau = ADAPTIVE_TABLEAUX[solver]

        def lean(f):
            vf = lambda s, state: (f(s, state[0]),)  # noqa: E731
            return adaptive_solver(vf, tableau, rtol=tol, atol=tol, options=options).solve((y0,), t.tolist())

    else:
        stepper = Stepper(FIXED_TABLEAUX[solver])

        def lean(f):
            return integrate(f, y0, fixed_grid(f, y0, t, options, stepper), stepper)

    contenders["lean"] = lean
    return step, contenders


def compiled_solvers(step, solvers: dict, solver: str, *, steps: int) -> tuple[dict, dict]:
    """Part 4: compiled contenders (name -> no-arg callable) and what compiling did (name -> record).

    The record holds ``compile_s`` (the first call's time minus an eager call's) or ``error``.
    """
    field, y0, t = step.problem.field, step.problem.y0, step.t
    candidates = {}
    if "torchode" in solvers:
        candidates["torchode compiled"] = (torch.compile(lambda: solvers["torchode"](field)), solvers["torchode"])
    if solver in ADAPTIVE_TABLEAUX:
        tableau, tolerances = ADAPTIVE_TABLEAUX[solver], {"rtol": step.config.rtol, "atol": step.config.atol}
        attempt, times = compile_attempt(tableau), t.tolist()

        def lean_compiled():
            lean = CompiledAdaptiveSolver(field, tableau, attempt=attempt, **tolerances, **step.options)
            return lean.solve((y0,), times)

        candidates["lean compiled"] = (lean_compiled, solvers["lean"])
    else:
        stepper = Stepper(FIXED_TABLEAUX[solver])
        grid = fixed_grid(field, y0, t, step.options, stepper)
        compiled_step = compile_step(stepper)
        candidates["lean compiled"] = (lambda: integrate_compiled(field, y0, grid, compiled_step), solvers["lean"])
    runs, records = {}, {}
    for name, (run, eager) in candidates.items():
        try:
            with torch.no_grad():
                start = time.perf_counter()
                eager(field)
                eager_s = time.perf_counter() - start
                start = time.perf_counter()
                run()
                first_s = time.perf_counter() - start
            records[name] = {"compile_s": max(first_s - eager_s, 0.0)}
            runs[name] = run
        except Exception as exc:  # a compiler that fails here is a result: record it, go on
            records[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    return runs, records


def solver_cost(model: str, sizes: dict, solver: str, *, steps: int, tol: float, repeats: int, device: str,
                compiled: bool, diffrax=None) -> list[dict]:  # fmt: skip
    """Part 1 (and 4): bare evaluations against each solve, no grad; per-round ratio = time / (NFE x bare)."""
    step, solvers = no_grad_solvers(sizes, solver, steps=steps, tol=tol, device=device)
    field, y0, t0 = step.problem.field, step.problem.y0, step.t[0]
    nfe = {}
    with torch.no_grad():
        for name, solve in solvers.items():
            counter = CountingField(field)
            solve(counter)
            nfe[name] = counter.nfe
    calls = nfe["torchdiffeq"]

    @torch.no_grad()
    def bare():
        for _ in range(calls):
            field(t0, y0)

    contenders = {"bare": bare} | {
        name: torch.no_grad()(lambda solve=solve: solve(field)) for name, solve in solvers.items()
    }
    compile_records = {}
    if compiled:
        runs, compile_records = compiled_solvers(step, solvers, solver, steps=steps)
        for name, run in runs.items():
            contenders[name] = torch.no_grad()(run)
            nfe[name] = nfe[name.removesuffix(" compiled")]  # the same solve: its NFE counted eagerly
    samples = interleaved(contenders, repeats, sync=synchronizer(device))
    solve = depth(solver, steps, tol)
    rows = []
    for name, values in samples.items():
        evaluations = calls if name == "bare" else nfe[name]
        ratios = [value / (evaluations * floor / calls) for value, floor in zip(values, samples["bare"])]
        rows.append({
            "part": "solver", "model": model, "solve": solve, "contender": name, "nfe": evaluations,
            **spread(values, ratios), **compile_records.get(name, {}),
        })  # fmt: skip
    for name, record in compile_records.items():
        if "error" in record:
            rows.append({"part": "solver", "model": model, "solve": solve, "contender": name, **record})
    if diffrax is not None:  # the same field, weights and state in JAX; checked against torchdiffeq's solution
        with torch.no_grad():
            reference = solvers["torchdiffeq"](field)[-1].cpu().numpy()
        rows += diffrax.solver_rows(model, solve, field, y0, step.t, solver, steps=steps, tol=tol, repeats=repeats,
                                    interleaved=interleaved, spread=spread, reference=reference)  # fmt: skip
    return rows


#: part 2's methods by default (``--all-methods``: every available one that takes heun2)
GRADIENT_METHODS = ("adjoint", "own-adjoint", "direct")


def gradient_config(name: str, sizes: dict, solver: str, *, steps: int, tol: float, device: str = "cpu"):
    """Part 2's cell for method ``name``: heun2 over ``steps`` equal steps, or dopri5 at rtol = atol =
    ``tol`` landed on the output times (torchdiffeq's adaptive solves step onto them, as the lean
    core and diffrax do, so that no contender interpolates where another lands)."""
    axes = {"rtol": tol, "atol": tol, "land": True} if solver in ADAPTIVE_TABLEAUX else {"steps": steps}
    return CellConfig(method=name, solver=solver, device=device, **axes, **sizes)


def gradient_methods(model: str, sizes: dict, steps: int, repeats: int, device: str, names=GRADIENT_METHODS,
                     solver: str = FIXED, tol: float = 1e-6) -> list:  # fmt: skip
    """Part 2: forward+backward of the methods ``names`` (None: all that take ``solver``); per-round
    ratio to adjoint; each method's forward and backward NFE counted once, outside the timed runs."""
    passes = {}
    for name, method in METHODS.items():
        if (names is None or name in names) and method.unavailable() is None and method.supports(solver):
            passes[name] = build_pass(gradient_config(name, sizes, solver, steps=steps, tol=tol, device=device))
    counts = {}
    for name, step in passes.items():
        counter = CountingField(step.problem.field)
        loss = step.forward(counter)
        forward = counter.nfe
        step.backward(loss)
        counts[name] = (forward, counter.nfe - forward)
        step.zero_grad()

    def round_trip(step):
        def run():
            step.zero_grad()
            step.backward(step.forward())

        return run

    samples = interleaved({name: round_trip(step) for name, step in passes.items()}, repeats, sync=synchronizer(device))
    rows = []
    for name, values in samples.items():
        ratios = [value / adjoint for value, adjoint in zip(values, samples["adjoint"])]
        rows.append({
            "part": "gradient", "model": model, "solve": depth(solver, steps, tol), "contender": name,
            "nfe_forward": counts[name][0], "nfe_backward": counts[name][1], **spread(values, ratios),
        })  # fmt: skip
    return rows


def depth(solver: str, steps: int, tol: float) -> str:
    """``dopri5 rtol=atol=1e-06`` or ``heun2 100 steps``: how a row names its solve."""
    return f"{solver} rtol=atol={tol:g}" if solver in ADAPTIVE_TABLEAUX else f"{solver} {steps} steps"


def op_profile(model: str, sizes: dict, solver: str, *, steps: int, tol: float, device: str, top: int = 12) -> list:
    """Part 3: aten operators of one lean solve beyond those of its NFE bare evaluations (the ``top`` most called).

    "Per step" divides the whole solve's extra calls (set-up included) by its steps.

    Counts come from torch.profiler (deterministic); ``extra_self_us`` is the profiler's self CPU
    time of those extra calls (noisy, and inflated by the profiler itself).
    """
    from torch.profiler import profile as torch_profile

    step, solvers = no_grad_solvers(sizes, solver, steps=steps, tol=tol, device=device)
    field, y0, t0 = step.problem.field, step.problem.y0, step.t[0]
    counter = CountingField(field)
    with torch.no_grad():
        solvers["lean"](counter)
        solvers["lean"](field)  # warm-up
        with torch_profile() as solve_prof:
            solvers["lean"](field)
        with torch_profile() as bare_prof:
            for _ in range(counter.nfe):
                field(t0, y0)
    solve_ops = {e.key: (e.count, e.self_cpu_time_total) for e in solve_prof.key_averages()}
    bare_ops = {e.key: (e.count, e.self_cpu_time_total) for e in bare_prof.key_averages()}
    evals_per_step = 2 if solver == FIXED else 6  # heun2; dopri5 (first same as last)
    step_count = counter.nfe / evals_per_step
    rows = []
    for name, (count, self_us) in solve_ops.items():
        extra = count - bare_ops.get(name, (0, 0.0))[0]
        if extra > 0 and name.startswith("aten::"):
            rows.append({
                "part": "profile", "model": model, "solve": solver, "contender": name, "nfe": counter.nfe,
                "extra_calls": extra, "extra_per_step": extra / step_count,
                "extra_self_us": self_us - bare_ops.get(name, (0, 0.0))[1],
            })  # fmt: skip
    return sorted(rows, key=lambda row: -row["extra_calls"])[:top]


def profile(sizes: dict, solver: str, *, steps: int, tol: float, rounds: int = 20, top: int = 12) -> None:
    """Part 5: cProfile of torchdiffeq's and torchode's solves (no grad), top own-time functions (printed)."""
    step, solvers = no_grad_solvers(sizes, solver, steps=steps, tol=tol)
    for name in ("torchdiffeq", "torchode"):
        if name not in solvers:
            continue
        profiler = cProfile.Profile()
        with torch.no_grad():
            solvers[name](step.problem.field)  # warm-up
            profiler.enable()
            for _ in range(rounds):
                solvers[name](step.problem.field)
            profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
        print(f"\n## Profile: {name} {solver}, {rounds} solves, no grad (own time, top {top})")
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:4000])


def cell(row: dict | None) -> str:
    """A ratio cell of the markdown table: ``median [q1-q3]``, or what happened instead."""
    if row is None:
        return "not run"
    if "error" in row:
        return "failed (see below)"
    text = f"{row['ratio_median']:.2f}x [{row['ratio_q1']:.2f}-{row['ratio_q3']:.2f}]"
    if "compile_s" in row:
        text += f", compile {row['compile_s']:.0f} s"
    return text


def render(meta: dict, rows: list[dict]) -> str:
    """The markdown report of one run (``rows`` as written to speed.csv)."""
    lines = [
        "# Solver speed: torchdiffeq, torchode and the lean core against the evaluation floor", "",
        f"Command: `{meta['command']}`  ",
        f"{meta['versions']}; device {meta['device']}; {meta['threads']} thread(s); {meta['repeats']} interleaved "
        f"rounds (+2 warm-up) per contender; {meta['python']}, {meta['machine']} with {meta['cpus']} CPUs.  ",
        f"Load average (1, 5, 15 min) before: {meta['load_before']}, after: {meta['load_after']}. "
        "The machine may be shared: absolute times are contaminated by other work; the ratios are taken "
        "per round between calls interleaved in one process, which cancels most of it. Wall time of the run: "
        f"{meta['wall_s']:.0f} s.", "",
        "## Solver cost, no grad: time / (NFE x one bare evaluation)", "",
        "1.00x is the floor (the vector field's evaluations alone); median [first-third quartile] of the "
        "per-round ratios. Compiled contenders: NFE counted on the eager solve; compile time (first call "
        "minus an eager call) apart; it depends on Inductor's on-disk cache (cold, the first compile "
        "of a process took tens of seconds here), and recompiles after the first call fall in the untimed "
        "warm-up rounds.", "",
        "| model | solve | NFE (torchdiffeq / torchode / lean) | " + " | ".join(CONTENDERS) + " |",
        "|---|---|---|" + "---|" * len(CONTENDERS),
    ]  # fmt: skip
    solver_rows = [row for row in rows if row["part"] == "solver"]
    for key in dict.fromkeys((row["model"], row["solve"]) for row in solver_rows):
        found = {row["contender"]: row for row in solver_rows if (row["model"], row["solve"]) == key}
        nfe = " / ".join(str(found[n]["nfe"]) if n in found else "-" for n in ("torchdiffeq", "torchode", "lean"))
        cells = " | ".join(cell(found.get(name)) for name in CONTENDERS)
        lines.append(f"| {key[0]} | {key[1]} | {nfe} | {cells} |")
    errors = [row for row in solver_rows if "error" in row]
    if errors:
        lines += ["", "Compiles that failed:", ""]
        lines += [f"- {row['contender']}, {row['model']}, {row['solve']}: `{row['error']}`" for row in errors]
    if not meta["compiled"]:
        lines += ["", "Compiled contenders not run (`--no-compiled`)."]
    lines += diffrax_section(meta, rows)
    gradient_rows = [row for row in rows if row["part"] == "gradient"]
    if gradient_rows:
        lines += [
            "", "## Forward+backward over torchdiffeq's adjoint", "",
            "heun2: equal steps for every contender; dopri5: the same tolerances, every solve landed on the output "
            "times, each contender with its own step control (so the NFE beside each row may differ). NFE forward / "
            "backward counted once, outside the timed runs.", "",
        ]  # fmt: skip
        if any(row["contender"].startswith("diffrax") for row in gradient_rows):
            lines += ["diffrax rows: `jax.grad` of the same loss (the final state's mean squared distance from the "
                      "workload's target) through diffrax's Heun or Dopri5 (PID controller), jitted; their ratios come "
                      "from a run of their own, interleaved with torchdiffeq's adjoint; their gradient is checked "
                      "against that adjoint's (relative difference in the last column; on dopri5 it includes the "
                      "difference of the two step controls).", ""]  # fmt: skip
        lines += ["| model | solve | method | NFE fwd / bwd | median ms | IQR ms | / adjoint, median [q1-q3] "
                  "| gradient vs adjoint |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in gradient_rows:
            nfe = f"{row['nfe_forward']} / {row['nfe_backward']}" if "nfe_forward" in row else "-"
            lines.append(
                f"| {row['model']} | {row['solve']} | {row['contender']} | {nfe} | {row['median_ms']:.2f} | "
                f"{row['iqr_ms']:.2f} | {row['ratio_median']:.2f}x [{row['ratio_q1']:.2f}-{row['ratio_q3']:.2f}] | "
                + (f"{row['gradient_difference']:.1e} |" if "gradient_difference" in row else "|")
            )
    profile_rows = [row for row in rows if row["part"] == "profile"]
    if profile_rows:
        lines += [
            "", "## Where the lean core's time beyond the floor goes", "",
            "torch.profiler: aten operators of one lean solve minus those of its NFE bare evaluations "
            "(calls are exact; self CPU times include the profiler's own overhead and the machine's noise).", "",
            "| model | solve | NFE | operator | extra calls | per step | extra self CPU us |",
            "|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for row in profile_rows:
            lines.append(
                f"| {row['model']} | {row['solve']} | {row['nfe']} | `{row['contender']}` | {row['extra_calls']} | "
                f"{row['extra_per_step']:.2f} | {row['extra_self_us']:.0f} |"
            )
    if meta["device"] != "cuda":
        lines += ["", "Not measured here: any CUDA figure (no GPU on this machine; `scripts/device_check.sh` runs "
                  "this script with `--device cuda` where there is one)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def diffrax_section(meta: dict, rows: list[dict]) -> list[str]:
    """The report's diffrax section: its jitted solve beside the PyTorch contenders, in wall time,
    and against its own XLA floor."""
    lines = ["", "## diffrax (JAX, jitted): the same field, weights and initial state", ""]
    diffrax_rows = [row for row in rows if row["part"] == "diffrax" and row["contender"] == "diffrax"]
    if not diffrax_rows:
        return lines + [f"diffrax: {meta.get('diffrax', 'not run')}."]
    lines += [
        f"{meta['diffrax']}, XLA on one CPU thread. XLA compiles the whole solve, so diffrax pays no Python "
        "dispatch per evaluation, where every PyTorch contender above does: its ratio here is to its own floor, "
        "the same NFE evaluations of the jitted field inside one compiled loop. The wall times put it beside the "
        "PyTorch solves (medians of separate interleaved runs in this process). Its NFE is counted as it runs "
        "(`jax.debug.callback`); its step control (PID controller, its own first step) is diffrax's.", "",
        "| model | solve | NFE diffrax / torchdiffeq | diffrax ms | torchdiffeq ms | lean ms | lean compiled ms "
        "| diffrax / its XLA floor | compile s | relative difference from torchdiffeq |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in diffrax_rows:
        key = (row["model"], row["solve"])
        torch_rows = {r["contender"]: r for r in rows if r["part"] == "solver" and (r["model"], r["solve"]) == key}

        def ms(name, torch_rows=torch_rows):
            found = torch_rows.get(name)
            return f"{found['median_ms']:.3f}" if found and "median_ms" in found else "-"

        lines.append(
            f"| {row['model']} | {row['solve']} | {row['nfe']} / {torch_rows.get('torchdiffeq', {}).get('nfe', '-')} "
            f"| {row['median_ms']:.3f} | {ms('torchdiffeq')} | {ms('lean')} | {ms('lean compiled')} "
            f"| {row['ratio_median']:.2f}x [{row['ratio_q1']:.2f}-{row['ratio_q3']:.2f}] | {row['compile_s']:.1f} "
            f"| {row['relative_difference']:.1e} |"
        )
    return lines


def write(out: Path, meta: dict, rows: list[dict]) -> None:
    """``speed.md``, ``speed.csv`` and ``speed.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.md").write_text(render(meta, rows))
    (out / "speed.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(out / "speed.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds per contender (default 20)")
    parser.add_argument("--steps", type=int, default=100, help="heun2 steps of the small-model runs (default 100)")
    parser.add_argument("--large-steps", type=int, default=20, help="heun2 steps on the 64-256 MLP (default 20)")
    parser.add_argument("--tol", type=float, default=1e-6, help="dopri5 rtol = atol (default 1e-6)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to solve (default cpu)")
    parser.add_argument("--out", type=Path, default=None, help="write speed.md, speed.csv, speed.json here")
    parser.add_argument("--quick", action="store_true", help="tiny models and 5 steps (a smoke run, not a measurement)")
    parser.add_argument("--skip-gradients", action="store_true", help="leave out part 2 (forward+backward)")
    parser.add_argument("--all-methods", action="store_true", help="part 2 with every method (default: adjoint, "
                        "own-adjoint, direct)")  # fmt: skip
    parser.add_argument("--no-compiled", dest="compiled", action="store_false",
                        help="leave out part 4 (torch.compile of torchode and the lean step; about 2 of the 4 minutes)")
    parser.add_argument("--compiled", dest="compiled", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument("--torchode-compile", dest="compiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="add part 5: cProfile of torchdiffeq and torchode")
    parser.add_argument("--no-diffrax", dest="diffrax", action="store_false",
                        help="leave out diffrax (JAX), run by default where it imports (pip install -e .[diffrax])")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 1 or args.large_steps < 1 or not args.tol > 0:
        parser.error("--repeats and the step counts must be >= 1 and --tol > 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA GPU here")
    torch.set_num_threads(args.threads)
    started, load_before = time.perf_counter(), tuple(round(x, 2) for x in os.getloadavg())
    versions = f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}"
    if torchode_available():
        import torchode

        versions += f", torchode {torchode.__version__}"
    else:
        versions += f", torchode not installed ({METHODS['torchode'].unavailable()})"
    diffrax, diffrax_note = None, "not run (--no-diffrax)"
    if args.diffrax and args.device != "cpu":
        diffrax_note = "not run: JAX is compared on the CPU only"
    elif args.diffrax:
        module = diffrax_module()
        diffrax_note = module.unavailable()
        if diffrax_note is None:
            import diffrax as diffrax_package
            import jax

            diffrax, diffrax_note = module, f"diffrax {diffrax_package.__version__}, jax {jax.__version__}"
    versions += f"; {diffrax_note}"
    print(f"{versions}, threads {torch.get_num_threads()}, {args.repeats} interleaved repeats, device {args.device}")
    models = (("2-50-2, batch 16", SMALL, args.steps), ("64-256-64, batch 256", LARGE, args.large_steps))
    if args.quick:
        models = (("tiny 2-8-2, batch 4", TINY, 5),)
    rows = []
    for label, sizes, steps in models:
        for solver in ("dopri5", FIXED):
            rows += solver_cost(label, sizes, solver, steps=steps, tol=args.tol, repeats=args.repeats,
                                device=args.device, compiled=args.compiled, diffrax=diffrax)  # fmt: skip
            print(f"solver cost: {label}, {solver}: done")
    if not args.skip_gradients:
        names = None if args.all_methods else GRADIENT_METHODS
        for solver in (FIXED, "dopri5"):
            for label, sizes, steps in models:
                rows += gradient_methods(label, sizes, steps, args.repeats, args.device, names, solver, args.tol)
                if diffrax is not None:
                    adjoint = build_pass(gradient_config("adjoint", sizes, solver, steps=steps, tol=args.tol))
                    rows += diffrax.gradient_rows(label, depth(solver, steps, args.tol), adjoint, solver, steps=steps,
                                                  tol=args.tol, repeats=args.repeats, interleaved=interleaved,
                                                  spread=spread)  # fmt: skip
                print(f"forward+backward: {label}, {solver}: done")
    for label, sizes, steps in models[:1]:  # the small model: where overhead shows
        for solver in ("dopri5", FIXED):
            rows += op_profile(label, sizes, solver, steps=steps, tol=args.tol, device=args.device)
    if args.profile:
        profile(models[0][1], "dopri5", steps=models[0][2], tol=args.tol)
        profile(models[0][1], FIXED, steps=models[0][2], tol=args.tol)
    meta = {
        "command": "python scripts/compare_solver_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "versions": versions, "device": args.device, "threads": torch.get_num_threads(), "repeats": args.repeats,
        "python": f"Python {platform.python_version()}", "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": tuple(round(x, 2) for x in os.getloadavg()),
        "wall_s": time.perf_counter() - started, "compiled": args.compiled, "quick": args.quick,
        "diffrax": diffrax_note,
    }  # fmt: skip
    report = render(meta, rows)
    print("\n" + report)
    if args.out is not None:
        write(args.out, meta, rows)
        print(f"wrote {args.out / 'speed.md'}, speed.csv, speed.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
