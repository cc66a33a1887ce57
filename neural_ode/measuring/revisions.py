"""Revisions of the project checked out side by side, and the worker processes that measure them.

``neural-ode-bench ab`` (:mod:`neural_ode.commands.ab`) resolves each revision (:func:`resolve`),
checks each out into a scratch worktree (:func:`checkouts`: ``git worktree add --detach`` into a
temporary folder, removed afterwards; ``.`` is the repository's working tree itself, uncommitted
changes included) and talks to one :class:`Worker` per side: a process running
:mod:`neural_ode.measuring.revision_worker` with that worktree first on ``PYTHONPATH``, so that
the ``neural_ode`` it imports is the revision's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from neural_ode.validation import UsageError

#: the worker's source, run by path (``runpy``) so that nothing of this checkout is imported there
WORKER_SCRIPT = Path(__file__).with_name("revision_worker.py")
#: seconds a worker may take to answer one request (a prepare computes references)
ANSWER_TIMEOUT_S = 600.0


def _git(repo: str, *words: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", repo, *words], capture_output=True, text=True, timeout=120, check=False)
    except OSError as exc:
        raise UsageError(f"git is needed to check out revisions: {exc.strerror or exc}") from exc


def resolve(repo: str, rev: str, label: str) -> str | None:
    """The commit hash of ``rev`` in ``repo`` (None for ``.``, the working tree); a UsageError naming
    the revision when it is none."""
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"--repo {repo}: not a git repository ({top.stderr.strip() or 'git rev-parse failed'})")
    if rev == ".":
        return None
    if rev.startswith("-"):
        raise UsageError(f"{label} {rev!r} is not a revision (it starts with '-')")
    found = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise UsageError(f"{label} {rev!r} is not a revision of {top.stdout.strip()} (git rev-parse found no commit)")
    return found.stdout.strip()


@dataclass
class Revision:
    """One side of an A/B: its label (BASE/NEW), the revision as given, its commit (None: the
    working tree), the interpreter of its workers and extra ``PYTHONPATH`` folders (a library under
    test); ``tree`` is its checkout once :func:`checkouts` made it."""

    label: str
    rev: str
    commit: str | None
    python: str
    pythonpath: str | None = None
    tree: Path | None = field(default=None)

    def describe(self) -> str:
        """``BASE HEAD~1 (1a2b3c4d5e)`` and the interpreter or path, where not the default."""
        text = f"{self.label} {self.rev} ({self.commit[:10] if self.commit else 'working tree'})"
        if self.python != sys.executable:
            text += f" in {self.python}"
        if self.pythonpath:
            text += f" with PYTHONPATH +{self.pythonpath}"
        return text

    def path_entries(self) -> list[str]:
        """``PYTHONPATH`` of its workers: the checkout, the extra folders, then the caller's own."""
        extra = [p for p in (self.pythonpath or "").split(os.pathsep) if p]
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return [str(self.tree), *extra, *inherited]


@contextlib.contextmanager
def checkouts(repo: str, sides: list[Revision]):
    """Each side's revision checked out into its own scratch worktree (``side.tree``), removed on exit."""
    top = Path(_git(repo, "rev-parse", "--show-toplevel").stdout.strip())
    scratch = Path(tempfile.mkdtemp(prefix="neural-ode-ab-"))
    made = []
    try:
        for side in sides:
            if side.commit is None:
                side.tree = top
                continue
            tree = scratch / side.label.lower()
            added = _git(str(top), "worktree", "add", "--detach", str(tree), side.commit)
            if added.returncode != 0:
                raise UsageError(f"{side.label} {side.rev}: git worktree add failed: {added.stderr.strip()}")
            made.append(tree)
            side.tree = tree
        yield sides
    finally:
        for tree in made:
            _git(str(top), "worktree", "remove", "--force", str(tree))
        _git(str(top), "worktree", "prune")
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


class WorkerError(RuntimeError):
    """A worker died, or could not import the revision's measuring entry points; ``label``: its side."""

    def __init__(self, message: str, label: str):
        super().__init__(message)
        self.label = label


class Worker:
    """One worker process of a side (:mod:`neural_ode.measuring.revision_worker`), JSON lines over pipes."""

    def __init__(self, side: Revision, threads: int):
        self.side = side
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(side.path_entries()), PYTHONHASHSEED="0")
        self.log = tempfile.TemporaryFile(mode="w+")
        code = f"import runpy; runpy.run_path({str(WORKER_SCRIPT)!r}, run_name='__main__')"
        self.process = subprocess.Popen(
            [side.python, "-c", code, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, env=env, cwd=str(side.tree),
        )  # fmt: skip
        self.ready: dict | None = None

    def _tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        return " | ".join(lines[-3:])

    def send(self, request: dict) -> None:
        """Send one request (the answer is read by :meth:`receive`)."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def _line(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise WorkerError(
                f"the {self.side.label} worker ended (exit {self.process.returncode}): {self._tail()}", self.side.label
            )
        return json.loads(line)

    def receive(self) -> dict:
        """The next answer; the first is the worker's ready message, checked here once."""
        if self.ready is None:
            self.ready = self._line()
            if not self.ready.get("ready"):
                why = self.ready.get("error")
                raise WorkerError(f"{self.side.describe()} cannot be measured: {why}", self.side.label)
            package = Path(self.ready["package"]).resolve()
            if Path(self.side.tree).resolve() not in package.parents:
                raise WorkerError(f"the {self.side.label} worker imported neural_ode from {package}, not from its "
                                  f"checkout {self.side.tree}", self.side.label)  # fmt: skip
        answer = self._line()
        if "error" in answer:
            raise WorkerError(f"the {self.side.label} worker: {answer['error']}", self.side.label)
        return answer

    def request(self, request: dict) -> dict:
        """Send ``request`` and return its answer."""
        self.send(request)
        return self.receive()

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not within a few seconds."""
        try:
            if self.process.poll() is None:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.process.kill()
            self.process.wait()
        finally:
            self.log.close()
