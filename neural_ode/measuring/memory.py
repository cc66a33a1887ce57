"""Where memory is measured: saved-for-backward bytes, CPU/CUDA peak tensor bytes, RSS peak.

Each function runs a callable once and returns a figure in bytes. They are separate runs from
the timed ones because every instrument here slows what it watches.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable

import torch


def saved_bytes(forward: Callable[[], object], exclude=()) -> tuple[int, object]:
    """Bytes of the distinct storages autograd still holds for backward when ``forward()`` returns; and its result.

    Every tensor saved for backward (by built-in ops and by custom ``autograd.Function``s such as
    ``odeint_adjoint``'s, through ``ctx.save_for_backward``) passes the pack hook, which keeps only a
    weak reference to it. When the forward pass has returned (and cyclic garbage is collected), the
    tensors still alive are those the graph holds; their storages are identified while all of them
    are alive, so a freed storage whose address was reused cannot merge with or split from another.
    Each distinct storage counts its whole ``nbytes`` once: views and parameters saved by many ops
    are not double counted, parameters saved by an op are counted (they are held), and tensors
    saved by ops whose graph was dropped before the end (a solver's step-size control, an
    instrument's check) are not. Tensors a custom Function keeps as plain ``ctx`` attributes are not
    seen. Exact, and the same in every process.

    ``exclude``: tensors whose storages are not counted (e.g. parameters and inputs that exist
    before the forward pass, to count only what the forward pass allocated and keeps).
    """
    saved: list[weakref.ref] = []

    def pack(tensor: torch.Tensor) -> _Held:
        held = _Held(tensor.detach())
        saved.append(weakref.ref(held))
        return held

    with torch.autograd.graph.saved_tensors_hooks(pack, _Held.unpack):
        result = forward()
    gc.collect()
    alive = [held.tensor for held in (ref() for ref in saved) if held is not None]
    if exclude:
        skip = {_storage_key(tensor) for tensor in exclude}
        alive = [tensor for tensor in alive if _storage_key(tensor) not in skip]
    return held_bytes(alive), result


def _storage_key(tensor: torch.Tensor) -> tuple:
    try:
        storage = tensor.untyped_storage()
        return (str(storage.device), storage.data_ptr())
    except (RuntimeError, NotImplementedError):
        return ("tensor", id(tensor))


class _Held:
    """What the graph stores in place of a saved tensor: a detached alias (same storage).

    Its lifetime is the saved slot's: it dies when the graph that saved it is freed, whoever else
    holds the tensor. Detached, it does not refer back to the graph, so an op that saves its own
    output makes no reference cycle.
    """

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def unpack(self) -> torch.Tensor:
        return self.tensor


def held_bytes(tensors) -> int:
    """Bytes of the distinct storages of ``tensors`` (None entries skipped), all alive at once."""
    storages: dict[tuple, int] = {}
    for tensor in tensors:
        if tensor is None:
            continue
        try:
            storage = tensor.untyped_storage()
            storages[(str(storage.device), storage.data_ptr())] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without a plain storage
            storages[("tensor", id(tensor))] = tensor.element_size() * tensor.nelement()
    return sum(storages.values())


def cpu_peak_bytes(run: Callable[[], object]) -> int:
    """Peak live CPU tensor bytes allocated during ``run()``, over what was live before it.

    The torch profiler records every allocation and free of the CPU allocator with a timestamp
    (``profile_memory=True``); a running sum of those events in time order, taken at each
    event rather than per operator, gives the exact high-water mark, temporaries inside an
    operator included.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [
        event
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == DeviceType.CPU
    ]
    live = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


def cuda_peak_bytes(run: Callable[[], object], device: torch.device | str = "cuda") -> int:
    """Peak CUDA bytes allocated during ``run()`` over those allocated before it.

    Uses torch.cuda's allocator statistics, reset right before the run and read right after a
    synchronisation, so nothing from earlier steps leaks into the figure.
    """
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    baseline = torch.cuda.memory_allocated(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


def _rss_high_water_bytes() -> int | None:
    """The kernel's RSS high-water mark of this process (VmHWM), None where unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_rss_high_water() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def rss_peak_bytes(run: Callable[[], object]) -> int:
    """Process RSS high-water during ``run()`` over the RSS just before it, in bytes.

    On Linux the kernel keeps the RSS high-water mark (VmHWM in ``/proc/self/status``) and resets it
    to the current RSS when 5 is written to ``/proc/self/clear_refs``: reset just before ``run``, read
    just after, it catches every peak, however short, at no cost to the run. Where that is not
    allowed (another OS, a locked-down /proc), memory-profiler samples the RSS every 5 ms while
    ``run`` executes instead (a sampler beside the run, which misses peaks between samples).
    Only meaningful on the first run in a fresh process: the allocator keeps freed memory, so a
    second run's peak over its start says nothing.
    """
    import psutil

    baseline = psutil.Process(os.getpid()).memory_info().rss
    if _reset_rss_high_water():
        run()
        peak = _rss_high_water_bytes()
        if peak is None:  # the run is spent: a second, sampled run would not be a first run
            raise RuntimeError("the RSS high-water mark (VmHWM) was reset but cannot be read")
        return max(peak - baseline, 0)
    from memory_profiler import memory_usage

    sampled_mib = memory_usage((run, (), {}), interval=0.005, max_usage=True, include_children=False)
    return max(int(sampled_mib * 2**20) - baseline, 0)
