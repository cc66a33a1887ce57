"""``python -m neural_ode.worker``: measure one cell in this (fresh) process.

Reads one cell config as a JSON object on stdin, measures it with
``measure_cell(config, rss="here")`` and writes its record as one JSON line on stdout. The sweep
runs every cell this way, in a new process, because the allocator keeps freed memory (only a
process's first run shows its true RSS peak) and so that a crash stays in its cell. Anything
else printed while measuring (library warnings, profiler chatter) is sent to stderr, so stdout
holds the record alone.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    """Measure the cell read from stdin; the record goes to stdout. Returns the exit status."""
    # keep the real stdout for the record; everything else written to fd 1 goes to stderr
    record_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from neural_ode.config import CellConfig
    from neural_ode.measure import measure_cell

    config = CellConfig(**json.loads(sys.stdin.read()))
    record = measure_cell(config, rss="here")
    record_out.write(json.dumps(record.to_dict()) + "\n")
    record_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
