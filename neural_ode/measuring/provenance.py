"""Where a measurement came from: versions, machine, threads, commit."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

import torch

#: set by a sweep to the commit it started at, so that all its cells carry it (a commit made
#: while a sweep runs does not split the sweep: its cells run the code the sweep loaded)
COMMIT_VARIABLE = "NEURAL_ODE_BENCH_COMMIT"


def git_commit() -> str | None:
    """The commit the measurement belongs to: the sweep's (``$NEURAL_ODE_BENCH_COMMIT``), else the
    checkout's this package runs from; None outside a git checkout."""
    return os.environ.get(COMMIT_VARIABLE) or checkout_commit()


@functools.cache
def checkout_commit() -> str | None:
    """The commit of the checkout this package runs from, None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@functools.cache
def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """A readable name of the device a cell ran on."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


@functools.cache
def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(device: str) -> dict:
    """Versions, device name, thread count, host and commit, as record fields."""
    import torchdiffeq

    return {
        "torch_version": torch.__version__,
        "torchdiffeq_version": torchdiffeq.__version__,
        "torchode_version": package_version("torchode"),
        "python_version": platform.python_version(),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "hostname": platform.node(),
        "git_commit": git_commit(),
    }
