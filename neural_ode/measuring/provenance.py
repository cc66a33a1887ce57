"""Where a measurement came from: versions, machine, threads, commit."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from pathlib import Path

import torch


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


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _cpu_flags() -> str | None:
    """A hash of the sorted CPU feature flags of /proc/cpuinfo (``flags`` on x86, ``Features`` on Arm)."""
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return _digest(" ".join(sorted(value.split())))
    return None


def _cpu_caches() -> str | None:
    """The first CPU's caches as ``L1d 32K, L1i 32K, L2 512K, L3 32768K`` (sysfs), else cpuinfo's ``cache size``."""
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    caches = []
    for index in sorted(root.glob("index*")) if root.is_dir() else ():
        level, kind, size = (_read(str(index / name)) for name in ("level", "type", "size"))
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind or "", "")
            caches.append(f"L{level}{suffix} {size}")
    if caches:
        return ", ".join(caches)
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("cache size"):
            return line.split(":", 1)[1].strip()
    return None


@functools.cache
def machine_identity() -> dict:
    """What tells one machine from another beyond its host name and CPU model, as record fields:

    * ``machine_id``: a hash of ``/etc/machine-id`` (systemd asks that the id itself not be
      published, so only a salted digest is recorded), None where there is none;
    * ``cpu_flags``: a hash of the CPU's feature flags (two VMs on one CPU model can expose different ones);
    * ``cpu_caches``: the cache sizes (``L1d 32K, L1i 32K, L2 512K, L3 32768K``);
    * ``kernel_release``: ``uname -r``.

    ``compare`` pairs two runs as one machine only when these match (None on either side: not known).
    """
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    return {
        "machine_id": _digest("neural-ode-bench:" + machine_id) if machine_id else None,
        "cpu_flags": _cpu_flags(),
        "cpu_caches": _cpu_caches(),
        "kernel_release": platform.release() or None,
    }


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


def provenance(device: str, commit: str | None = None) -> dict:
    """Versions, device name, thread count, host, machine identity (:func:`machine_identity`) and
    commit, as record fields. ``commit``: the one the sweep started at (all its cells carry it, see
    :class:`neural_ode.sweeping.process.ProcessSettings`); None: the checkout's this package runs from."""
    import torchdiffeq

    return {
        "torch_version": torch.__version__,
        "torchdiffeq_version": torchdiffeq.__version__,
        "torchode_version": package_version("torchode"),
        "python_version": platform.python_version(),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "hostname": platform.node(),
        **machine_identity(),
        "git_commit": commit or checkout_commit(),
    }
