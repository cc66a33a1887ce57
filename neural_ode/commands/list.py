"""``neural-ode-bench list``: what can be measured, one line each, read from the registries."""

from __future__ import annotations

import argparse

from neural_ode.errors import UsageError

NAME = "list"
HELP = "list the workloads, methods, solvers, metrics, statuses and presets, one line each"


def sections() -> dict[str, list[tuple[str, str]]]:
    """Each section's (name, one-line description) entries, straight from the registries."""
    from neural_ode.errors import STATUSES
    from neural_ode.methods import METHODS
    from neural_ode.results.record import METRICS
    from neural_ode.solvers import SOLVERS
    from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
    from neural_ode.workloads import WORKLOADS

    def solver_line(spec) -> str:
        kind = "adaptive, takes --horizon/--tol" if spec.adaptive else "fixed grid, takes --steps"
        return f"order {spec.order}, {kind}: {spec.description}"

    def method_line(method) -> str:
        unavailable = method.unavailable()
        line = f"[{method.library}] {method.description}"
        return line if unavailable is None else f"(unavailable: {unavailable}) {line}"

    return {
        "workloads": [(name, workload.description) for name, workload in WORKLOADS.items()],
        "methods": [(name, method_line(method)) for name, method in METHODS.items()],
        "solvers": [(name, solver_line(spec)) for name, spec in SOLVERS.items()],
        "metrics": [(name, f"[{metric.unit}] {metric.description}") for name, metric in METRICS.items()],
        "statuses": list(STATUSES.items()),
        "presets": [
            (name, ("(default) " if name == DEFAULT_PRESET else "") + preset.description)
            for name, preset in PRESETS.items()
        ],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """An optional section name to list alone."""
    parser.add_argument("section", nargs="?", help="one of: workloads, methods, solvers, metrics, statuses, presets")


def main(args: argparse.Namespace) -> int:
    """Print the sections (or the one asked for)."""
    all_sections = sections()
    if args.section is not None and args.section not in all_sections:
        raise UsageError(f"unknown section {args.section!r}; allowed: {', '.join(all_sections)}")
    chosen = {args.section: all_sections[args.section]} if args.section else all_sections
    width = max(len(name) for entries in chosen.values() for name, _ in entries)
    blocks = []
    for title, entries in chosen.items():
        blocks.append("\n".join([f"{title}:"] + [f"  {name:<{width}}  {line}" for name, line in entries]))
    print("\n\n".join(blocks))
    return 0
