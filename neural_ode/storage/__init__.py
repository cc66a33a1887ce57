"""The tool's files as owned output: the toolkit every module that writes a file or takes a lock uses.

* :mod:`.paths`: names that stay inside a folder, and the one atomic write (:func:`.paths.replace_atomically`).
* :mod:`.lock`: the one advisory lock on a file (``flock``).
* :mod:`.owned`: the manifest of the files the tool wrote in a folder.
* :mod:`.writer`: the one writer of the tool's files (atomic, owned, inside its folder).

This package sits low: it imports only the ground floor (:mod:`neural_ode.validation`,
:mod:`neural_ode.errors`). Which user factories may be imported is
:mod:`neural_ode.workloads.trusted`; the typed check of a ``results.jsonl`` line is
:mod:`neural_ode.results.records`.
"""

from __future__ import annotations

from neural_ode.exports import lazy_exports

#: the writers every application uses: public name -> where it is defined
EXPORTS = {
    "write_file": "neural_ode.storage.writer",
    "write_table": "neural_ode.storage.writer",
    "write_figure": "neural_ode.storage.writer",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
