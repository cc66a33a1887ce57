"""The worker: measures one cell in a process of its own.

The sweep (:mod:`neural_ode.sweeping.runner`) runs :func:`measure_into` in a new process per cell, forked
from a server process that has only imported :data:`PRELOAD` and run nothing; each cell's
process is thus fresh (its allocator has served no tensor, so its RSS peak is its own, and a
crash ends only that process), without paying the seconds of importing torch again per cell.

``python -m neural_ode.sweeping.worker`` does the same by hand: it reads one cell config as a JSON
object on stdin and writes its record as one JSON line on stdout.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
from pathlib import Path

from neural_ode.sweeping.process import DEFAULT_SETTINGS, ProcessSettings

#: what the server process imports once before forking cell processes. torch.profiler imports
#: torch._dynamo (and sympy, some 800 modules, about 3 s) the first time it profiles.
PRELOAD = ("neural_ode.measuring.cell", "neural_ode.results.record", "torch._dynamo")


def worker_context():
    """The multiprocessing context that starts cell processes.

    ``forkserver`` with :data:`PRELOAD` imported in the server, where the platform has it;
    ``spawn`` (a new interpreter per cell, slower to start) elsewhere.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # '__main__' too: the server then runs the main script once, and no cell process
        # re-runs it (with its imports, a second or more) before it starts measuring
        context.set_forkserver_preload(["__main__", *PRELOAD])
        return context
    return multiprocessing.get_context("spawn")


#: the first process the forkserver forked, after importing :data:`PRELOAD` (None: not yet)
_warm_up = None


def begin_worker_server() -> None:
    """Start the forkserver, without waiting for its imports (about 5 s of one core): the command
    line calls this first thing for ``run``, so that the server imports while the sweep's own
    process does; once per process."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()  # starts the server process and returns; it imports meanwhile


def start_worker_server() -> None:
    """Start the forkserver (if :func:`begin_worker_server` has not) and wait until its imports
    are done (the first process it forks), so that no cell's time budget pays for them; once per
    process."""
    global _warm_up
    if _warm_up is None:
        _warm_up = worker_context().Process(target=os.getpid, name="neural-ode-bench warm-up")
        _warm_up.start()
        _warm_up.join()


#: seconds between two checks of a cell process that the sweep still lives
PARENT_POLL_S = 0.5


def die_with(sweep_pid: int, cleanup: str | None = None) -> None:
    """Make this process die when the sweep (``sweep_pid``) does, whatever signal ended it.

    Two mechanisms, since a cell process is the child of the forkserver, not of the sweep: the
    kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux: SIGKILL when the
    forkserver ends), and a daemon thread that checks every :data:`PARENT_POLL_S` seconds that the
    sweep process lives (a zombie counts as dead) and kills this process otherwise, first removing
    the folder ``cleanup`` (the cell's temporary folder) and its parent if that is then empty.
    """
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def alive() -> bool:
        try:
            import psutil

            return psutil.Process(sweep_pid).status() != psutil.STATUS_ZOMBIE
        except Exception:  # NoSuchProcess, AccessDenied: gone or not ours any more
            return False

    def watch() -> None:
        while alive():
            time.sleep(PARENT_POLL_S)
        if cleanup:
            import shutil

            shutil.rmtree(cleanup, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(cleanup))
            except OSError:
                pass
        os.kill(os.getpid(), signal.SIGKILL)

    if alive():
        threading.Thread(target=watch, name="neural-ode-bench parent watch", daemon=True).start()
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def run_child(
    target, environ: dict, config: dict, record_path: str, log_path: str, sweep_pid: int | None = None
) -> None:
    """In a new cell process: die with the sweep (``sweep_pid``, see :func:`die_with`), send all
    output to ``log_path``, take the sweep's environment variables, then run
    ``target(config, record_path)``.

    The forkserver's environment is the one it started with; the variables read at run time
    (``NEURAL_ODE_BENCH_CACHE``) must be the sweep's now. Ctrl-C reaches the whole terminal's
    process group, cell processes included: they ignore it (the sweep kills the cell in flight
    itself), so a ``KeyboardInterrupt`` in a cell is the user's code's own, recorded as an error. A
    sweep that gave up on the cell before it started (its temporary folder gone) ends it silently.
    A process the user's code left running when ``target`` returns is killed and named in the
    record (:func:`name_leftovers`); this process leads a process group of its own, so that what
    the user's code forked before the process ended otherwise (``os._exit``, a crash) is found in
    that group and killed by the sweep (:func:`neural_ode.family.kill_group`).
    """
    import signal

    from neural_ode.family import adopt_orphans, kill_descendants, left_behind, own_group

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sweep_pid is not None:
        die_with(sweep_pid, cleanup=os.path.dirname(record_path))
    own_group()  # what the user's code forks stays findable after this process is gone
    adopt_orphans()  # a process the user's code leaves behind stays ours to find and kill
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except FileNotFoundError:  # the sweep was interrupted as this cell started: nothing to measure
        os._exit(0)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(environ)
    if "fork" in multiprocessing.get_all_start_methods():
        # this process inherited the forkserver start method: memory-profiler's sampling process
        # would then start a new server that re-imports the main script and torch (~1.5 s a cell)
        multiprocessing.set_start_method("fork", force=True)
    # what the server imported (torch, torch._dynamo: hundreds of thousands of objects) is never
    # garbage; freezing it keeps each full collection (saved_bytes runs one) to this cell's own
    # objects: 0.3 s a cell otherwise
    gc.freeze()
    target(config, record_path)
    leftovers = kill_descendants()  # a fork of the user's factory or field, still running
    if leftovers:
        name_leftovers(record_path, left_behind(leftovers))


def name_leftovers(record_path: str, message: str) -> None:
    """Make the record at ``record_path`` (a JSON object with a ``status``) an ``error`` whose
    ``error`` begins with ``message`` (the processes the user's code left running, killed); its
    figures are kept, measured beside those processes. Anything else there is left as it is."""
    try:
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return
    if not isinstance(record, dict) or "status" not in record:
        return
    before = record.get("error")
    record.update(status="error", error=message + (f"; then: {before}" if before else ""))
    partial = f"{record_path}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(partial, record_path)


def measure_into(config: dict, record_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    """Measure the cell ``config`` (a CellConfig's fields) under the sweep's ``settings`` (threads,
    commit, instructions) and write its record to ``record_path``.

    The record is one JSON object, written atomically (:func:`neural_ode.storage.paths.replace_atomically`),
    so a reader sees all of it or nothing.
    """
    from neural_ode.config import CellConfig
    from neural_ode.measuring.cell import measure_cell
    from neural_ode.storage.paths import replace_atomically

    settings.apply()  # run --threads N (the record's ``threads`` says what ran)
    record = measure_cell(CellConfig(**config), rss="here", **settings.cell_options())
    replace_atomically(Path(record_path), json.dumps(record.to_dict()).encode("utf-8"))


def reference_into(config: dict, record_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    """Compute the float64 reference of the cell ``config`` into the disk cache, then write an
    ``ok`` record (no figures) to ``record_path`` (the sweep's reference pass)."""
    from neural_ode.config import CellConfig
    from neural_ode.measuring.reference import reference_for
    from neural_ode.results.record import CellRecord

    settings.apply()
    cell = CellConfig(**config)
    reference_for(cell)
    with open(record_path, "w", encoding="utf-8") as handle:
        json.dump(CellRecord(config=cell).to_dict(), handle)


def main() -> int:
    """``python -m neural_ode.sweeping.worker [SETTINGS]``: the cell read from stdin, its record written
    to stdout; ``SETTINGS``, a JSON object of :class:`~neural_ode.sweeping.process.ProcessSettings`
    (default: none given)."""
    record_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library output must not mix with the record

    from neural_ode.config import CellConfig
    from neural_ode.measuring.cell import measure_cell

    settings = ProcessSettings.from_dict(json.loads(sys.argv[1])) if len(sys.argv) > 1 else ProcessSettings()
    settings.apply()
    record = measure_cell(CellConfig(**json.loads(sys.stdin.read())), rss="here", **settings.cell_options())
    record_out.write(json.dumps(record.to_dict()) + "\n")
    record_out.close()  # flushed and closed: no unclosed-file ResourceWarning at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
