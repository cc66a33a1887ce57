"""diffrax (JAX) beside the PyTorch solvers of ``compare_solver_speed.py``: the same MLP, the same
weights, the same initial state, the same solve; optional (``pip install -e .[diffrax]``).

JAX compiles the whole solve (XLA), so diffrax pays no Python dispatch per evaluation, where every
PyTorch contender does. Two floors are therefore reported for it:

- ``jax floor``: NFE evaluations of the jitted field inside one compiled loop (``lax.fori_loop``),
  the XLA compute floor; diffrax's ratio to it is its own solver overhead;
- beside it, the wall time of each call next to the PyTorch contenders' (same process, the
  same rounds interleaved), which is what a user choosing a library waits for.

NFE is counted at run time with ``jax.debug.callback`` inside the field (once, outside the timed
calls), and the solution is checked against torchdiffeq's (relative difference reported).
Everything runs on one CPU thread (XLA's flags are set before JAX is imported).
"""

from __future__ import annotations

import os

#: XLA on one CPU thread, as torch is pinned to one (set before jax is imported)
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def unavailable() -> str | None:
    """None when diffrax and JAX import; else why not (one line)."""
    os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import diffrax  # noqa: F401
        import jax  # noqa: F401
    except Exception as exc:  # missing or broken: a reason, not a crash
        return f"diffrax not importable ({type(exc).__name__}: {exc}); pip install -e .[diffrax]"
    return None


def jax_field(torch_field):
    """The torch ``MLPField``/``tanh_mlp`` (Linear, Tanh, ..., Linear) as a pure JAX function of
    ``(t, y, params)`` with its weights copied (float32 stays float32)."""
    import jax.numpy as jnp
    from torch import nn

    layers = [module for module in torch_field.modules() if isinstance(module, nn.Linear)]
    others = {type(m) for m in torch_field.modules() if not isinstance(m, (nn.Linear, nn.Sequential))}
    if {cls.__name__ for cls in others} - {"Tanh", type(torch_field).__name__}:
        raise ValueError(f"only tanh MLP fields are translated to JAX, not {sorted(c.__name__ for c in others)}")
    params = [tuple(jnp.asarray(p.detach().cpu().numpy()) for p in (m.weight, m.bias)) for m in layers]

    def field(t, y, args):
        for weight, bias in args[:-1]:
            y = jnp.tanh(y @ weight.T + bias)
        weight, bias = args[-1]
        return y @ weight.T + bias

    return field, params


def problem(torch_field, y0, t, solver: str, *, steps: int, tol: float):
    """``solve(params) -> y(t1)``, jitted, and what it needs: diffrax's Dopri5 with a PID
    controller at rtol = atol = tol (its default first step), or Heun over ``steps`` equal steps."""
    import diffrax
    import jax
    import jax.numpy as jnp

    field, params = jax_field(torch_field)
    state = jnp.asarray(y0.detach().cpu().numpy())
    t0, t1 = float(t[0]), float(t[-1])
    if solver == "dopri5":
        method, controller, dt0 = diffrax.Dopri5(), diffrax.PIDController(rtol=tol, atol=tol), None
    elif solver == "heun2":
        method, controller, dt0 = diffrax.Heun(), diffrax.ConstantStepSize(), (t1 - t0) / steps
    else:
        raise ValueError(f"no diffrax counterpart for {solver}; allowed: dopri5, heun2")

    def solve(params, adjoint=None, vf=field):
        adjoint = diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint
        solution = diffrax.diffeqsolve(
            diffrax.ODETerm(vf), method, t0, t1, dt0, state, args=params, stepsize_controller=controller,
            saveat=diffrax.SaveAt(t1=True), adjoint=adjoint, max_steps=100_000,
        )  # fmt: skip
        return solution.ys[-1]

    return jax, jnp, diffrax, field, params, state, solve


def count_nfe(jax, field, run, params) -> int:
    """Evaluations of the field in one jitted ``run(params, vf=...)`` (a solve, or the gradient of
    a loss through one), counted as they run (``jax.debug.callback``)."""
    calls = []

    def counted(t, y, args):
        jax.debug.callback(lambda: calls.append(1))
        return field(t, y, args)

    jax.block_until_ready(jax.jit(lambda p: run(p, vf=counted))(params))
    return len(calls)


def solver_rows(model: str, label: str, torch_field, y0, t, solver: str, *, steps: int, tol: float, repeats: int,
                interleaved, spread, reference) -> list[dict]:  # fmt: skip
    """Part 1 for diffrax: its jitted solve against its XLA floor (NFE evaluations in one compiled
    loop), per round; compile time apart; the relative difference from ``reference`` (torchdiffeq's
    final state). ``label`` names the solve in the rows; ``interleaved`` and ``spread`` are the
    speed script's timing loop and row figures."""
    import time

    import numpy as np

    jax, jnp, _diffrax, field, params, state, solve = problem(torch_field, y0, t, solver, steps=steps, tol=tol)
    nfe = count_nfe(jax, field, solve, params)
    solve_jit = jax.jit(solve)
    start = time.perf_counter()
    final = jax.block_until_ready(solve_jit(params))
    compile_s = time.perf_counter() - start
    difference = float(np.linalg.norm(np.asarray(final) - reference) / np.linalg.norm(reference))

    @jax.jit
    def floor(params, y):
        return jax.lax.fori_loop(0, nfe, lambda _, z: field(0.0, z, params), y)

    jax.block_until_ready(floor(params, state))
    samples = interleaved(
        {"jax floor": lambda: jax.block_until_ready(floor(params, state)),
         "diffrax": lambda: jax.block_until_ready(solve_jit(params))},
        repeats,
    )  # fmt: skip
    rows = []
    for name, values in samples.items():
        ratios = [value / floor for value, floor in zip(values, samples["jax floor"])]
        row = {"part": "diffrax", "model": model, "solve": label, "contender": name, "nfe": nfe}
        row |= spread(values, ratios)
        if name == "diffrax":
            row |= {"compile_s": compile_s, "relative_difference": difference}
        rows.append(row)
    return rows


def gradient_rows(model: str, label: str, step, solver: str, *, steps: int, tol: float, repeats: int, interleaved,
                  spread) -> list[dict]:  # fmt: skip
    """Part 2 for diffrax: forward+backward (``jax.grad`` of the workload's mean squared distance
    from its target) through diffrax's ``RecursiveCheckpointAdjoint`` (backpropagation through the
    solve) and ``BacksolveAdjoint`` (the continuous adjoint), Heun over ``steps`` steps or Dopri5 at
    rtol = atol = ``tol``, per round against torchdiffeq's adjoint (``step``, the same model),
    interleaved in one run; each gradient's relative difference from that adjoint's
    (``gradient_difference``) and its forward and backward NFE (counted as they run)."""
    import numpy as np
    import torch

    problem_ = step.problem
    jax, jnp, diffrax, field, params, state, solve = problem(
        problem_.field, problem_.y0, step.t, solver, steps=steps, tol=tol
    )
    target = jnp.zeros_like(state) if problem_.target is None else jnp.asarray(problem_.target.cpu().numpy())
    adjoints = {"diffrax checkpoint": None, "diffrax backsolve": diffrax.BacksolveAdjoint()}

    def loss(params, adjoint, vf=field):
        return jnp.mean((solve(params, adjoint=adjoint, vf=vf) - target) ** 2)

    grads = {name: jax.jit(jax.grad(lambda p, a=adjoint: loss(p, a))) for name, adjoint in adjoints.items()}

    def torch_adjoint():
        step.zero_grad()
        step.backward(step.forward())

    torch_adjoint()  # its gradient, in the JAX parameters' order (weight, bias per layer)
    layers = [m for m in problem_.field.modules() if isinstance(m, torch.nn.Linear)]
    expected = np.concatenate([p.grad.detach().cpu().numpy().ravel() for m in layers for p in (m.weight, m.bias)])
    differences, counts = {}, {}
    forward = count_nfe(jax, field, solve, params)
    for name, grad in grads.items():
        ours = np.concatenate([np.asarray(x).ravel() for pair in jax.block_until_ready(grad(params)) for x in pair])
        differences[name] = float(np.linalg.norm(ours - expected) / np.linalg.norm(expected))
        total = count_nfe(jax, field, lambda p, vf, a=adjoints[name]: jax.grad(loss)(p, a, vf), params)
        counts[name] = (forward, total - forward)

    contenders = {"adjoint": torch_adjoint} | {
        name: (lambda grad=grad: jax.block_until_ready(grad(params))) for name, grad in grads.items()
    }
    samples = interleaved(contenders, repeats)
    rows = []
    for name, values in samples.items():
        if name == "adjoint":
            continue
        ratios = [value / adjoint for value, adjoint in zip(values, samples["adjoint"])]
        rows.append({
            "part": "gradient", "model": model, "solve": label, "contender": name,
            "nfe_forward": counts[name][0], "nfe_backward": counts[name][1], **spread(values, ratios),
            "gradient_difference": differences[name],
        })  # fmt: skip
    return rows
