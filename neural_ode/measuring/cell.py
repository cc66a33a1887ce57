"""Measuring one cell: the single core every front end (sweep, ASV, pytest-benchmark) calls.

The flow of :func:`measure_cell`, each step its own run so that no instrument bends another's
figure:

1. RSS peak of forward+backward, on the first run of a fresh process (see ``rss``);
2. a counted run: NFE of the forward and of the backward pass, bytes saved for backward,
   finiteness of state, loss and gradient, and the errors against the float64 reference;
3. a profiled run: peak CPU tensor bytes (CPU cells), or a run between CUDA memory statistics
   (CUDA cells);
4. timed runs, with the bare vector field (no counter, no hooks): warm-up, then repeats until the
   median's 95 % interval is narrow enough or the cell's timing budget is spent;
5. the time of one bare vector-field evaluation (timed in runs of NFE calls), for the solver-overhead
   ratio;
6. float32 cells: the same solve in float64, for the round-off floor;
7. the errors against the float64 reference.

Anything raised is turned into the record's ``status`` and ``error``; figures measured before
the failure are kept.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import time
from typing import Literal

import torch

from neural_ode.config import CellConfig
from neural_ode.measuring.backsolve import reverse_state_error
from neural_ode.measuring.counting import CountingField, Deadline, StepCountingField
from neural_ode.measuring.failures import NonFiniteError, classify
from neural_ode.measuring.gradient_pass import GradientPass, build_pass  # noqa: F401 (re-exported)
from neural_ode.measuring.instructions import TIMEOUT_S, measure_instructions
from neural_ode.measuring.memory import cpu_peak_bytes, cuda_peak_bytes, rss_peak_bytes, saved_bytes
from neural_ode.measuring.options import fixed_grid_points, solver_options  # noqa: F401 (re-exported)
from neural_ode.measuring.provenance import provenance
from neural_ode.measuring.reference import flat_gradient, reference_for, relative_error
from neural_ode.measuring.roundoff import roundoff_floors
from neural_ode.measuring.timed import evaluation_fields, timing_fields, timing_member
from neural_ode.measuring.timing import Contention, time_rounds
from neural_ode.methods import METHODS
from neural_ode.results.record import CellRecord
from neural_ode.results.trust import gradient_wrong

RssMode = Literal["fresh", "here", "skip"]


def load_average() -> float | None:
    """The machine's 1-minute load average (runnable processes), None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _check_finite(what: str, tensor: torch.Tensor) -> None:
    if not torch.isfinite(tensor).all():
        raise NonFiniteError(f"non-finite values in the {what}")


def measure_cell(
    config: CellConfig,
    *,
    rss: RssMode = "fresh",
    reference: bool = True,
    peak: bool = True,
    timing: bool = True,
    roundoff: bool = True,
    instructions: bool = False,
    commit: str | None = None,
) -> CellRecord:
    """Measure ``config`` and return its record; never raises for a failing cell.

    Args:
        config: the cell.
        rss: ``"fresh"`` measures the RSS peak in a new spawned process (about 2 s of start-up);
            ``"here"`` measures it in this process, first, which is right only when this process
            has run nothing yet (the sweep's per-cell worker); ``"skip"`` leaves it None.
        reference: compute ``grad_rel_error``/``sol_rel_error`` against the float64 reference.
        peak: run the profiled (CPU) or CUDA-statistics run for the peak tensor bytes.
        timing: run the timed repeats (off for the exact figures alone).
        roundoff: float32 cells: solve again in float64 for the round-off floor
            (``grad_roundoff_floor``, ``sol_roundoff_floor``).
        instructions: count the instructions of one forward and one backward pass under valgrind
            (:mod:`neural_ode.measuring.instructions`, a separate process: tens of seconds; ``run --instructions``).
        commit: the git commit the record carries (a sweep's, the one it started at); None: the
            checkout's this package runs from.

    Returns:
        a :class:`CellRecord` with status ``ok``, or the failure's status and message and every
        figure measured before it.
    """
    started = time.perf_counter()
    fields: dict = {"measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    fields["load_before"] = load_average()
    deadline = Deadline(config.timeout_s)
    phases = fields["phase_s"] = {}
    try:
        fields.update(provenance(config.device, commit))
        if rss == "fresh":
            with _phase(phases, "rss"):
                fields["rss_peak_bytes"] = rss_peak_in_fresh_process(config)
        with _phase(phases, "build"):
            step = build_pass(config)
            fields["params"] = sum(p.numel() for p in step.problem.parameters())
        if rss == "here":
            with _phase(phases, "rss"):
                fields["rss_peak_bytes"] = rss_peak_bytes(step.run)
        with _phase(phases, "counted"):
            solution, gradient = _measure_exact(step, deadline, fields)
        if peak:
            with _phase(phases, "peak"):
                _measure_peak(step, deadline, fields)
        if timing:
            with _phase(phases, "timed"):
                _measure_time(step, deadline, fields)
        if roundoff:
            with _phase(phases, "roundoff"):
                _measure_roundoff(config, solution, gradient, deadline, fields)
        if instructions:
            left_s = None if deadline.at is None else max(deadline.at - time.monotonic(), 1.0)
            with _phase(phases, "instructions"):
                fields.update(measure_instructions([config.to_dict()], timeout_s=left_s or TIMEOUT_S)[0])
        if reference:  # last: a reference not computed yet takes what is left of the deadline, nothing else
            with _phase(phases, "reference"):
                _measure_accuracy(config, solution, gradient, deadline, fields)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # a failed cell is a result, whatever its code raised
        if isinstance(exc, KeyboardInterrupt) and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            raise  # a real Ctrl-C (a cell process ignores SIGINT: there it is the user's code's own)
        fields["status"], fields["error"] = classify(exc)
    fields["cell_wall_s"] = time.perf_counter() - started
    fields["load_after"] = load_average()
    return CellRecord(config=config, **fields)


@contextlib.contextmanager
def _phase(phases: dict, name: str):
    """Add the wall seconds of the block to ``phases[name]`` (the record's ``phase_s``), failed or not."""
    begun = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - begun


def _measure_exact(step: GradientPass, deadline: Deadline, fields: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """NFE forward/backward, saved bytes and finiteness, from one counted run; returns the run's
    states at the output times and its flat float64 parameter gradient (for the accuracy)."""
    method = METHODS[step.config.method]
    # torchdiffeq's adaptive solvers report their accepted and rejected steps through the field's callbacks
    steps = step.config.adaptive and method.library == "torchdiffeq"
    counter = (StepCountingField if steps else CountingField)(step.problem.field, deadline, watch_finite=True)
    step.zero_grad()
    try:
        fields["saved_bytes"], loss = saved_bytes(lambda: step.forward(counter))
        fields["nfe_forward"] = counter.nfe
        _check_finite("final state", step.final_state)
        # before the backward pass, so that a backward pass that blows up still has its diagnosis
        fields["reverse_state_error"] = reverse_state_error(step)
        _check_finite("loss", loss)
        step.backward(loss)
    except Exception as exc:
        if counter.first_non_finite is not None:
            raise NonFiniteError(
                f"the vector field returned non-finite values at {counter.first_non_finite}; then {exc}"
            ) from exc
        raise
    fields["nfe_backward"] = counter.nfe - fields["nfe_forward"]
    if steps:
        fields["steps_accepted_forward"] = counter.accepted["forward"]
        fields["steps_rejected_forward"] = counter.rejected["forward"]
        if method.family == "adjoint":  # odeint_adjoint's backward solve; backpropagation solves nothing backwards
            fields["steps_accepted_backward"] = counter.accepted["backward"]
            fields["steps_rejected_backward"] = counter.rejected["backward"]
    gradient = flat_gradient(step.problem.parameters())
    _check_finite("parameter gradient", gradient)
    config = step.config
    fields["interpolated"] = bool(config.adaptive and METHODS[config.method].interpolates_outputs and not config.land)
    return step.trajectory.detach().to("cpu", torch.float64).clone(), gradient


def _measure_accuracy(config, solution: torch.Tensor, gradient: torch.Tensor, deadline: Deadline, fields: dict):
    """Errors of the counted run against the float64 reference, and the reference's own errors.

    A reference not cached yet (a sweep computes them first, see
    :func:`neural_ode.sweeping.runner.prepare_references`) is computed here, within the deadline.
    """
    deadline.check()
    ref = reference_for(config, check=deadline.check)
    fields["sol_rel_error"] = relative_error(solution, ref.solution)
    fields["grad_rel_error"] = relative_error(gradient, ref.gradient)
    # the per-cell parts of the rule; the report adds the tolerance ladder's (neural_ode.results.trust.judge)
    fields["gradient_wrong"] = gradient_wrong(fields["grad_rel_error"], fields["sol_rel_error"], config.rtol)
    fields["ref_sol_rel_error"] = ref.solution_error
    fields["ref_grad_rel_error"] = ref.gradient_error


def _measure_roundoff(config, solution: torch.Tensor, gradient: torch.Tensor, deadline: Deadline, fields: dict):
    """The round-off floor of a float32 cell (:mod:`neural_ode.measuring.roundoff`, cached on disk);
    float64 cells record nothing (None), and a float64 solve that fails leaves the floor None."""
    if config.dtype != "float32":
        return
    deadline.check()
    floors = roundoff_floors(config, solution, gradient, deadline, build_pass)
    if floors is not None:
        fields["sol_roundoff_floor"], fields["grad_roundoff_floor"] = floors


def _measure_peak(step: GradientPass, deadline: Deadline, fields: dict) -> None:
    """Peak tensor bytes of one forward+backward on the cell's device.

    A pass of its own, kept because it measures what the counted pass cannot: the saved bytes are
    what the graph holds when the forward pass ends, while the peak includes every temporary inside
    the operators and the backward pass's working set (the adjoint's augmented state, the gradients
    being accumulated). On CPU it needs torch.profiler's allocation events, which slow the run they
    watch (so not beside the timed repeats) and would count the counted pass's own finiteness
    checks (so not inside it): one profiled run per cell is the least it costs.
    """
    deadline.check()
    # free what the previous run left (gradients, final state) before the baseline is taken:
    # freed inside the measured run, they would lower the peak by however much happened to be left
    step.zero_grad()
    step.release()
    if torch.device(step.config.device).type == "cuda":
        fields["cuda_peak_bytes"] = cuda_peak_bytes(step.run, step.config.device)
    else:
        fields["cpu_peak_bytes"] = cpu_peak_bytes(step.run)


def _measure_time(step: GradientPass, deadline: Deadline, fields: dict) -> None:
    """Median forward and backward times over repeats, and one bare evaluation's time."""
    config = step.config
    with Contention(torch.get_num_threads()) as contention:
        ((forward, backward),) = time_rounds(
            [timing_member(step, deadline)],
            repeats=config.repeats,
            warmup=config.warmup,
            device=config.device,
            max_repeats=config.max_repeats,
            halfwidth=config.ci_halfwidth,
            budget_s=config.time_budget_s,
        )
    fields.update(other_cpu_cores=contention.other_cores, contended=contention.contended)
    fields.update(timing_fields(config, forward, backward))
    deadline.check()
    fields.update(evaluation_fields(step, fields.get("nfe_forward"), forward.median_s))


def rss_main() -> None:
    """In the fresh process of :func:`rss_peak_in_fresh_process`: the cell's fields as JSON on
    stdin; ``("ok", bytes)`` or ``("error", exception)``, pickled and base64-encoded, as the last
    line on stdout (library output goes to stderr)."""
    import base64
    import json
    import os
    import pickle
    import sys

    result_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        step = build_pass(CellConfig(**json.loads(sys.stdin.read())))
        result = ("ok", rss_peak_bytes(step.run))
    except Exception as exc:
        result = ("error", exc)
    try:
        payload = pickle.dumps(result)
    except Exception:  # an exception that does not pickle: its type and message
        payload = pickle.dumps(("error", RuntimeError(f"{type(result[1]).__name__}: {result[1]}")))
    result_out.write(base64.b64encode(payload).decode("ascii") + "\n")
    result_out.close()  # flushed and closed: no unclosed-file ResourceWarning at exit


def rss_peak_in_fresh_process(config: CellConfig) -> int:
    """RSS peak of one forward+backward of ``config`` in a new Python process, in bytes.

    A fresh process because the allocator keeps freed memory: only a process's first run
    shows its true high-water mark. A failure in the child is re-raised here. The process is a
    new interpreter running :func:`rss_main` (``python -c``), not a multiprocessing child: it
    never imports the caller's ``__main__``, so a script without an ``if __name__ ==
    "__main__":`` guard is not run a second time.
    """
    import base64
    import json
    import os
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the folder holding the neural_ode package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from neural_ode.measuring.cell import rss_main; rss_main()"],
            input=json.dumps(config.to_dict()),
            capture_output=True,
            text=True,
            env=env,
            timeout=config.timeout_s,
            check=False,
        )
        kind, value = pickle.loads(base64.b64decode(done.stdout.strip().splitlines()[-1]))
    except Exception as exc:
        raise RuntimeError(f"the RSS measurement process gave no result ({type(exc).__name__})") from exc
    if kind == "error":
        raise value
    return value
