"""Before/after figures of issue 9, measured side by side in one run (byte counts and errors: load-independent).

1. ``saved_bytes``: the old count (every tensor ever saved, storages keyed by address, the counting
   wrapper's finiteness check run with autograd on) against the new one (storages the graph still
   holds when the forward pass ends), on the same cells, with the CPU peak for scale; then both
   counts of one adaptive cell in three fresh processes.
2. The reference: the old one (dopri8 at 1e-10, direct backpropagation, interpolated at t1) and the
   new one (dopri8 adjoint at 1e-12 landing on t1) against a tighter direct solve landing on t1
   (1e-13), with the new reference's own error estimate.

    PYTHONPATH=. python scripts/before_after.py
"""

from __future__ import annotations

import subprocess
import sys

import torch
import torchdiffeq

from neural_ode import CellConfig
from neural_ode.measuring import memory
from neural_ode.measuring.cell import build_pass
from neural_ode.measuring.counting import CountingField
from neural_ode.measuring.reference import CHECK_TOL, REFERENCE_TOL, flat_gradient, relative_error, solve_reference
from neural_ode.workloads import WORKLOADS


def old_saved_bytes(forward):
    """The count before issue 9: every saved tensor's storage, keyed by address while it was saved."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[(str(storage.device), storage.data_ptr())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = forward()
    return sum(storages.values()), result


class OldCountingField(CountingField):
    """The counting wrapper before issue 9: its finiteness check ran with autograd on."""

    def forward(self, t, y):
        self.nfe += 1
        out = self.field(t, y)
        if self.first_non_finite is None and not torch.isfinite(out).all():
            self.first_non_finite = f"evaluation {self.nfe}"
        return out


CELLS = [
    dict(method="direct", solver="rk4", steps=64),
    dict(method="direct", solver="dopri5"),
    dict(method="direct", solver="bosh3"),
    dict(method="adjoint", solver="dopri5"),
    dict(method="aca", solver="rk4", steps=64),
    dict(method="checkpoint", solver="rk4", steps=64),
]


def saved_pair(cell: dict) -> tuple[int, int, int]:
    """(old count, new count, CPU peak) of one mlp cell, batch 128."""
    config = CellConfig(workload="mlp", batch=128, **cell)
    step = build_pass(config)
    old, loss = old_saved_bytes(lambda: step.forward(OldCountingField(step.problem.field)))
    del loss
    step.zero_grad()
    new, loss = memory.saved_bytes(lambda: step.forward(CountingField(step.problem.field, watch_finite=True)))
    del loss
    step.zero_grad()
    step.final_state = None
    peak = memory.cpu_peak_bytes(step.run)
    return old, new, peak


def reference_rows():
    def direct(horizon, tol, land):
        config = CellConfig(workload="mlp", batch=128, horizon=horizon)
        problem = WORKLOADS["mlp"].build(config, dtype=torch.float64, device="cpu")
        t = torch.tensor([0.0, horizon], dtype=torch.float64)
        options = {"step_t": t} if land else {}
        solution = torchdiffeq.odeint(problem.field, problem.y0, t, method="dopri8", rtol=tol, atol=tol,
                                      options=options)[-1]  # fmt: skip
        problem.loss(solution).backward()
        return solution.detach(), flat_gradient(problem.parameters())

    print("\n2. float64 reference against a tighter solve (dopri8 1e-13, direct, landing on t1); mlp batch 128")
    print(f"{'horizon':>7} {'old grad err':>13} {'new grad err':>13} {'new own est.':>13} {'old sol err':>12} "
          f"{'new sol err':>12}")  # fmt: skip
    for horizon in (1.0, 4.0, 16.0):
        truth = direct(horizon, 1e-13, True)
        old = direct(horizon, 1e-10, False)
        settings = ("mlp", 128, 256, 64, horizon, 0, 1, 1)  # workload, batch, width, dim, t1, seed, layers, outputs
        new = solve_reference(settings, REFERENCE_TOL)
        check = solve_reference(settings, CHECK_TOL)
        print(
            f"{horizon:7g} {relative_error(old[1], truth[1]):13.2e} {relative_error(new[1], truth[1]):13.2e} "
            f"{relative_error(check[1], new[1]):13.2e} {relative_error(old[0], truth[0]):12.2e} "
            f"{relative_error(new[0], truth[0]):12.2e}"
        )


def main() -> None:
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--one"]:
        old, new, _ = saved_pair(dict(method="direct", solver="dopri5"))
        print(old, new)
        return
    print("1. saved_bytes, mlp batch 128 (bytes)")
    print(f"{'cell':28} {'old':>12} {'new':>12} {'CPU peak':>12} {'old/new':>8}")
    for cell in CELLS:
        old, new, peak = saved_pair(cell)
        name = " ".join(str(v) for v in cell.values())
        print(f"{name:28} {old:12,d} {new:12,d} {peak:12,d} {old / new:8.3f}")
    print("\n   direct dopri5 in three fresh processes (old, new):")
    for _ in range(3):
        out = subprocess.run([sys.executable, __file__, "--one"], capture_output=True, text=True, check=True)
        old, new = map(int, out.stdout.split()[-2:])
        print(f"   {old:12,d} {new:12,d}")
    reference_rows()


if __name__ == "__main__":
    main()
