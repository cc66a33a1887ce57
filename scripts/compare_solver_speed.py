"""Side-by-side speed of bare evaluations, torchdiffeq, torchode and the lean core, and of the gradient methods.

Times, interleaved round-robin in one process (so machine noise hits every contender alike),
and prints medians with their interquartile ranges and the ratios the issue asks about:

1. the solver's own cost without gradient, on a small model (state 2, hidden 50, batch 16) and
   on the default one (state 64, hidden 256, batch 256), for dopri5 (rtol = atol = --tol) and a
   fixed grid (heun2 over N steps, the fixed-grid method all three libraries share):
   ``bare`` = NFE bare evaluations of the vector field under no_grad (the floor),
   ``torchdiffeq`` = ``odeint``, ``torchode`` = torchode's ``AutoDiffAdjoint`` through the
   ``torchode`` method (per-sample step sizes), ``lean`` = the lean core (grid or step-size
   control built per call). Each contender's NFE is counted once (outside the timed runs); its
   ratio is its time over (its NFE x one bare evaluation), the per-step overhead;
2. forward+backward of every gradient method in ``METHODS`` that takes heun2 (torchode's too,
   when installed), with equal steps, on both models, through the measuring core's
   :class:`~neural_ode.measuring.cell.GradientPass` (the same code every front end runs);
3. with ``--profile``: where the time goes in torchdiffeq's and torchode's dopri5 (cProfile,
   the functions with the most own time), to explain a difference;
4. with ``--torchode-compile``: torchode's solve under ``torch.compile`` (compile time reported
   apart). torchode 1.0.1's README compiles the adjoint module (``torch.compile(solver)``),
   which leaves ``.solve`` uncompiled; here ``solve`` itself is compiled.

Usage::

    PYTHONPATH=. python scripts/compare_solver_speed.py --repeats 30 --threads 1
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import time

import torch
import torchdiffeq

from neural_ode import METHODS, CellConfig
from neural_ode.integrators import ADAPTIVE_TABLEAUX, FIXED_TABLEAUX, Stepper, adaptive_solver, fixed_grid, integrate
from neural_ode.measuring.cell import build_pass, solver_options
from neural_ode.measuring.counting import CountingField

SMALL = {"batch": 16, "width": 50, "dim": 2}
LARGE = {"batch": 256, "width": 256, "dim": 64}
FIXED = "heun2"


def interleaved(contenders: dict, repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Wall times (s) of each contender, ``repeats`` rounds, one call each per round."""
    samples = {name: [] for name in contenders}
    for round_ in range(warmup + repeats):
        for name, run in contenders.items():
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            gc.enable()
            if round_ >= warmup:
                samples[name].append(elapsed)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and interquartile range, in seconds."""
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return median, q3 - q1


def torchode_available() -> bool:
    return METHODS["torchode"].unavailable() is None


def no_grad_solvers(sizes: dict, solver: str, *, steps: int, tol: float) -> dict:
    """The contenders of part 1 for one model and solver: name -> callable(field) solving without grad."""
    adaptive = solver == "dopri5"
    axes = {"rtol": tol, "atol": tol} if adaptive else {"steps": steps}
    config = CellConfig(method="direct", solver=solver, **axes, **sizes)
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


def solver_cost(label: str, sizes: dict, solver: str, *, steps: int, tol: float, repeats: int) -> None:
    """Part 1: bare evaluations against each library's solve, no grad; ratio = time / (NFE x bare)."""
    step, solvers = no_grad_solvers(sizes, solver, steps=steps, tol=tol)
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
    samples = interleaved(contenders, repeats)
    per_eval = summary(samples["bare"])[0] / calls
    depth = f"rtol=atol={tol:g}" if solver == "dopri5" else f"{steps} steps"
    print(f"\n## Solver cost, no grad: {solver} ({depth}), MLP {label}; bare = {calls} evaluations")
    print(f"{'contender':<13}{'NFE':>6}{'median ms':>11}{'IQR ms':>9}{'ms/eval':>9}{'/ bare':>9}")
    for name, values in samples.items():
        median, iqr = summary(values)
        evaluations = calls if name == "bare" else nfe[name]
        ratio = median / (evaluations * per_eval)
        per_call = median / evaluations * 1e3
        print(f"{name:<13}{evaluations:>6}{median * 1e3:>11.2f}{iqr * 1e3:>9.2f}{per_call:>9.3f}{ratio:>9.2f}")


def gradient_methods(label: str, sizes: dict, steps: int, repeats: int) -> None:
    """Part 2: forward+backward of every available method that takes heun2, equal steps."""
    passes = {}
    for name, method in METHODS.items():
        if method.unavailable() is None and method.supports(FIXED):
            passes[name] = build_pass(CellConfig(method=name, solver=FIXED, steps=steps, **sizes))

    def round_trip(step):
        def run():
            step.zero_grad()
            step.backward(step.forward())

        return run

    samples = interleaved({name: round_trip(step) for name, step in passes.items()}, repeats)
    print(f"\n## Forward+backward: {FIXED}, {steps} steps, MLP {label}")
    print(f"{'method':<26}{'median ms':>11}{'IQR ms':>9}{'/ adjoint':>11}{'/ direct':>10}")
    adjoint, direct = summary(samples["adjoint"])[0], summary(samples["direct"])[0]
    for name, values in samples.items():
        median, iqr = summary(values)
        print(f"{name:<26}{median * 1e3:>11.2f}{iqr * 1e3:>9.2f}{median / adjoint:>11.2f}{median / direct:>10.2f}")


def profile(sizes: dict, solver: str, *, steps: int, tol: float, rounds: int = 20, top: int = 12) -> None:
    """Part 3: cProfile of torchdiffeq's and torchode's solves (no grad), top own-time functions."""
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


def torchode_compiled(sizes: dict, tol: float, repeats: int) -> None:
    """Part 4: torchode's solve under torch.compile against eager, dopri5, no grad."""
    import torchode

    step = build_pass(CellConfig(method="direct", solver="dopri5", rtol=tol, atol=tol, **sizes))
    field, y0, t = step.problem.field, step.problem.y0, step.t
    term = torchode.ODETerm(field)
    adjoint = torchode.AutoDiffAdjoint(torchode.Dopri5(term=term), torchode.IntegralController(tol, tol, term=term))
    problem = torchode.InitialValueProblem(y0, t_eval=t.expand(y0.shape[0], -1))
    compiled = torch.compile(adjoint.solve)
    try:
        start = time.perf_counter()
        with torch.no_grad():
            compiled(problem, term=term)
        first = time.perf_counter() - start
    except Exception as exc:  # record the failure, not a traceback
        print(f"\n## torchode + torch.compile: failed on this machine: {type(exc).__name__}: {str(exc)[:300]}")
        return
    samples = interleaved(
        {
            "torchode eager": torch.no_grad()(lambda: adjoint.solve(problem, term=term)),
            "torchode compiled": torch.no_grad()(lambda: compiled(problem, term=term)),
        },
        repeats,
    )
    print(f"\n## torchode + torch.compile, dopri5 rtol=atol={tol:g}: first call (compiling) {first:.1f} s")
    for name, values in samples.items():
        median, iqr = summary(values)
        print(f"{name:<20}{median * 1e3:>11.2f} ms (IQR {iqr * 1e3:.2f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per contender (default 30)")
    parser.add_argument("--steps", type=int, default=100, help="heun2 steps of the small-model runs (default 100)")
    parser.add_argument("--large-steps", type=int, default=20, help="heun2 steps on the 64-256 MLP (default 20)")
    parser.add_argument("--tol", type=float, default=1e-6, help="dopri5 rtol = atol (default 1e-6)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--skip-gradients", action="store_true", help="leave out part 2 (forward+backward)")
    parser.add_argument("--profile", action="store_true", help="add part 3: cProfile of torchdiffeq and torchode")
    parser.add_argument("--torchode-compile", action="store_true", help="add part 4: torchode under torch.compile")
    args = parser.parse_args(argv)
    if args.repeats < 2 or args.steps < 1 or args.large_steps < 1 or not args.tol > 0:
        parser.error("--repeats must be >= 2, the step counts >= 1 and --tol > 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    versions = f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}"
    if torchode_available():
        import torchode

        versions += f", torchode {torchode.__version__}"
    else:
        versions += f", torchode not installed ({METHODS['torchode'].unavailable()})"
    print(f"{versions}, threads {torch.get_num_threads()}, {args.repeats} interleaved repeats")
    for label, sizes, steps in (
        ("2-50-2, batch 16", SMALL, args.steps),
        ("64-256-64, batch 256", LARGE, args.large_steps),
    ):
        solver_cost(label, sizes, "dopri5", steps=steps, tol=args.tol, repeats=args.repeats)
        solver_cost(label, sizes, FIXED, steps=steps, tol=args.tol, repeats=args.repeats)
    if not args.skip_gradients:
        gradient_methods("2-50-2, batch 16", SMALL, args.steps, args.repeats)
        gradient_methods("64-256-64, batch 256", LARGE, args.large_steps, args.repeats)
    if args.profile:
        profile(SMALL, "dopri5", steps=args.steps, tol=args.tol)
        profile(SMALL, FIXED, steps=args.steps, tol=args.tol)
    if args.torchode_compile and torchode_available():
        torchode_compiled(SMALL, args.tol, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
