"""Running a sweep on a Dask distributed cluster: ``neural-ode-bench run --scheduler tcp://HOST:PORT``.

The client (this process) submits one task per cell to the scheduler and appends each record to
the one ``results.jsonl`` as it arrives, through the same :class:`neural_ode.sweeping.runner.ResultsLog`
as the local runner, so ``--resume``, ``compare`` and ``report`` work unchanged.

On a worker, a task measures its cell in a fresh process, ``python -m neural_ode.sweeping.worker``
(the cell's config on stdin, its record on stdout), killed past the cell's ``timeout_s`` plus
:data:`~neural_ode.sweeping.runner.KILL_GRACE_S`: the peaks stay those of a fresh process, and a
crash ends the cell, not the worker. Dask's worker processes are daemonic by default, and those
may not start multiprocessing children; a worker started with ``DASK_DISTRIBUTED__WORKER__DAEMON=False``
in its environment instead uses the local runner's forkserver, which imports torch once per worker
rather than once per cell (seconds a cell).

Before the cells, :func:`run_sweep_dask` registers a worker plugin (:class:`Preload`) that imports
torch and the measuring package once in every worker (and, on a non-daemonic worker, starts the
forkserver and waits for its imports), so no cell pays for them and every worker is ready when the
first cell arrives; then it computes the float64 references the cells need on the cluster, one task
per problem (:func:`reference_on_worker`, which checks the worker's cache first), so that no cell
computes its own reference inside its timeout. With workers on several machines, each machine's
cache is its own: a reference is computed where its task ran and read from that machine's cache
by its cells, or, elsewhere, computed again by the cell within its timeout.

One cell at a time per worker: start workers with ``--nthreads 1`` (a warning names any worker
with more threads; two cells sharing a machine's cores would time each other). Every record
names its host (the measuring process's ``hostname``). A worker that dies mid-cell: the scheduler
moves the cell to another worker (Dask reschedules tasks of lost workers, up to
``distributed.scheduler.allowed-failures`` times); past that, the cell is recorded as ``crashed``
with Dask's reason, never lost.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from neural_ode.config import CellConfig
from neural_ode.results.record import CellRecord
from neural_ode.sweeping.plan import cell_label
from neural_ode.sweeping.process import DEFAULT_SETTINGS, ProcessSettings
from neural_ode.sweeping.runner import KILL_GRACE_S, ResultsLog, SweepOutcome, _failed, _now, _with_tail, describe_exit

#: seconds the client waits for the scheduler to answer
CONNECT_TIMEOUT_S = 30


def measure_on_worker(config: dict, settings: ProcessSettings = DEFAULT_SETTINGS) -> dict:
    """On a Dask worker: measure the cell ``config`` in a fresh Python process under the sweep's
    ``settings`` (torch threads, commit, instructions); its record as a dict.

    Never raises for a failing cell: a timeout or a dead process gives a record with status
    ``timeout`` or ``crashed``, as the local runner does.
    """
    cell = CellConfig(**config)
    if not multiprocessing.current_process().daemon:
        # a worker started with DASK_DISTRIBUTED__WORKER__DAEMON=False (or --no-nanny): the local
        # runner's forkserver, which imports torch once per worker, not once per cell
        from neural_ode.sweeping.runner import run_cell

        return run_cell(cell, settings=settings).to_dict()
    kill_after_s = cell.timeout_s + KILL_GRACE_S
    measured_at, started = _now(), time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "neural_ode.sweeping.worker", json.dumps(settings.to_dict())],
            input=json.dumps(config),
            capture_output=True,
            text=True,
            timeout=kill_after_s,
            env=dict(os.environ),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        message = f"killed after {kill_after_s:g} s (the cell's timeout is {cell.timeout_s:g} s)"
        return _failed(cell, "timeout", _with_tail(message, output), started, measured_at, settings.commit).to_dict()
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode == 0 and lines:
        try:
            return CellRecord.from_dict(json.loads(lines[-1])).to_dict()
        except (ValueError, TypeError):
            pass
    reason = describe_exit(done.returncode) if done.returncode != 0 else "the cell process wrote no record"
    return _failed(cell, "crashed", _with_tail(reason, done.stderr), started, measured_at, settings.commit).to_dict()


class Preload(WorkerPlugin):
    """A Dask worker plugin: on each worker, import torch and the measuring package once; on a
    non-daemonic worker, also start the local runner's forkserver and wait until it has imported
    them. Registered by :func:`run_sweep_dask` before any cell is submitted."""

    name = "neural-ode-bench-preload"

    def setup(self, worker=None) -> None:
        import torch  # noqa: F401 - the import is the point

        import neural_ode.measuring.cell  # noqa: F401

        if not multiprocessing.current_process().daemon:
            from neural_ode.sweeping.worker import start_worker_server

            start_worker_server()


def reference_on_worker(config: dict, settings: ProcessSettings = DEFAULT_SETTINGS) -> str | None:
    """On a Dask worker: compute the float64 reference of the cell ``config`` into this machine's
    cache unless it is there; None when it is there, else the reason it could not be computed.

    In a fresh process with the sweep's threads (``settings``), killed past the cell's ``timeout_s``
    (at most the local pass's limit), as the local reference pass does.
    """
    from neural_ode.measuring.reference import is_cached
    from neural_ode.sweeping.runner import REFERENCE_TIMEOUT_S

    cell = CellConfig(**config)
    if is_cached(cell):
        return None
    code = (
        "import json, sys; from neural_ode.config import CellConfig; "
        "from neural_ode.sweeping.process import ProcessSettings; "
        "from neural_ode.measuring.reference import reference_for; "
        "ProcessSettings.from_dict(json.loads(sys.argv[1])).apply(); "
        "reference_for(CellConfig(**json.loads(sys.stdin.read())))"
    )
    limit = min(REFERENCE_TIMEOUT_S, cell.timeout_s)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(settings.to_dict())], input=json.dumps(config),
            capture_output=True, text=True, timeout=limit, env=dict(os.environ), check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"not computed within {limit:g} s"
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()
        return f"{describe_exit(done.returncode)}: {tail[-1] if tail else 'no output'}"
    return None


def _references_on_cluster(client, cells: Sequence[CellConfig], settings: ProcessSettings, progress: bool) -> None:
    """The reference pass of a Dask sweep: one task per problem the cells need, awaited before any cell."""
    from distributed import as_completed
    from tqdm import tqdm

    from neural_ode.measuring.reference import cache_key
    from neural_ode.sweeping.runner import reference_label

    needed: dict[str, CellConfig] = {}
    for cell in cells:
        try:
            needed.setdefault(cache_key(cell), cell)
        except Exception:  # noqa: BLE001 - a problem that cannot be built fails in its cells, with the reason
            continue
    if not needed:
        return
    futures = {
        client.submit(reference_on_worker, cell.to_dict(), settings, key=f"reference-{index}", pure=False): cell
        for index, cell in enumerate(needed.values())
    }
    with tqdm(total=len(futures), file=sys.stderr, unit="reference", disable=not progress, dynamic_ncols=True) as bar:
        bar.set_description("float64 references on the cluster")
        for future in as_completed(futures):
            try:
                reason = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker: the cells compute it themselves
                reason = f"{type(exc).__name__}: {exc}"
            if reason is not None:
                warnings.warn(
                    f"the reference of {reference_label(futures[future])} could not be computed on the cluster "
                    f"({reason}); its cells try again within their own timeouts",
                    stacklevel=3,
                )
            bar.update(1)


def _check_workers(client) -> None:
    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        warnings.warn("the scheduler has no worker yet; the cells wait until one connects", stacklevel=3)
    for address, worker in workers.items():
        if worker.get("nthreads", 1) > 1:
            warnings.warn(
                f"worker {address} runs {worker['nthreads']} threads: cells would share its cores; "
                "start workers with --nthreads 1",
                stacklevel=3,
            )


def connect(scheduler: str):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (``tcp://HOST:PORT``).

    Raises:
        OSError: the scheduler cannot be reached within :data:`CONNECT_TIMEOUT_S` seconds.
    """
    from distributed import Client

    _probe(scheduler, CONNECT_TIMEOUT_S)
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc


def _probe(scheduler: str, timeout_s: float) -> None:
    """Raise OSError within ``timeout_s`` seconds unless ``scheduler`` (``tcp://HOST:PORT``) speaks
    first the way a Dask server does: on accepting, it sends its handshake, one framed message
    (an 8-byte length, then a frame count and frame lengths). A silent service or one that says
    something else (HTTP, SSH, garbage) is refused here instead of hanging the client."""
    import socket
    import struct
    from urllib.parse import urlsplit

    if not scheduler.startswith("tcp://"):
        return  # tls://, inproc://, ...: left to distributed's own checks
    try:
        parts = urlsplit(scheduler)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise OSError(f"{scheduler} is not tcp://HOST:PORT ({exc})") from exc
    if not host or port is None:
        raise OSError(f"{scheduler} is not tcp://HOST:PORT")
    deadline = time.monotonic() + timeout_s

    def receive(sock, size: int) -> bytes:
        data = b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no Dask handshake within {timeout_s:g} s")
            sock.settimeout(left)
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the service closed the connection without a Dask handshake")
            data += chunk
        return data

    not_dask = f"the service at {scheduler} is not a Dask scheduler"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    try:
        with sock:
            (size,) = struct.unpack("<Q", receive(sock, 8))
            if not 16 <= size <= 1_000_000:
                raise OSError(f"{not_dask} (its first bytes are not a Dask message)")
            body = receive(sock, size)
            (frames,) = struct.unpack_from("<Q", body)
            if not 1 <= frames <= 1000 or 8 + 8 * frames > size:
                raise OSError(f"{not_dask} (its first message is not a Dask handshake)")
    except TimeoutError as exc:
        raise OSError(f"{not_dask} (no handshake within {timeout_s:g} s)") from exc
    except (ConnectionError, struct.error) as exc:
        raise OSError(f"{not_dask} ({exc})") from exc


def run_sweep_dask(
    cells: Sequence[CellConfig],
    out_dir: Path | str,
    scheduler,
    *,
    resume: bool = False,
    progress: bool = True,
    settings: ProcessSettings = DEFAULT_SETTINGS,
) -> SweepOutcome:
    """Measure ``cells`` on the Dask cluster at ``scheduler``, appending records as they arrive.

    Every task takes the sweep's ``settings`` (torch threads, commit, instructions) as an argument,
    and gives them to its cell process.

    ``scheduler`` is an address (``tcp://HOST:PORT``) or a client from :func:`connect` (which the
    client's ``with`` closes at the end).

    With ``resume``, cells already recorded in ``out_dir/results.jsonl`` are skipped. Each
    arrival is logged on stderr with the worker and host that measured it.

    Raises:
        OSError: the scheduler cannot be reached within :data:`CONNECT_TIMEOUT_S`.
    """
    from distributed import as_completed
    from tqdm import tqdm

    log = ResultsLog(Path(out_dir) / "results.jsonl")
    done = log.done_keys() if resume else set()
    todo = [cell for cell in cells if cell.key not in done]
    records: list[CellRecord] = []
    lost: list[str] = []
    client = scheduler if not isinstance(scheduler, str) else connect(scheduler)
    with client:
        _check_workers(client)
        client.register_plugin(Preload(), name=Preload.name)  # every worker imports torch before any cell
        _references_on_cluster(client, todo, settings, progress)
        futures = {}
        for index, cell in enumerate(todo):
            future = client.submit(
                measure_on_worker, cell.to_dict(), settings, key=f"cell-{index}-{cell_label(cell)}", pure=False
            )
            futures[future] = cell
        with tqdm(total=len(todo), file=sys.stderr, unit="cell", disable=not progress, dynamic_ncols=True) as bar:
            for future in as_completed(futures):
                cell = futures[future]
                try:
                    record = CellRecord.from_dict(future.result())
                except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler: the cluster's fault
                    # measure_on_worker never raises for a failing cell: this cell was not measured, so
                    # it is not recorded (a measured failure it is not); --resume runs it again
                    lost.append(f"{cell_label(cell)} ({type(exc).__name__})")
                    bar.update(1)
                    continue
                log.append(record)
                records.append(record)
                where = _task_worker(client, future)
                bar.write(f"{cell_label(cell)}: {record.status} on {record.hostname or '?'} ({where})", file=sys.stderr)
                bar.update(1)
    if lost:
        warnings.warn(
            f"{len(lost)} cells were lost to the cluster (a dead worker or scheduler) and not recorded, "
            f"e.g. {lost[0]}; continue with: neural-ode-bench run --resume --out {out_dir}",
            stacklevel=2,
        )
    return SweepOutcome(records=records, skipped=len(cells) - len(todo))


def _task_worker(client, future) -> str:
    """The address of the worker that ran ``future`` (best effort: the scheduler may have forgotten)."""
    try:
        who = client.who_has([future]).get(future.key) or ()
        return ", ".join(who) or "worker released"
    except Exception:  # noqa: BLE001 - only a log line depends on it
        return "worker unknown"
