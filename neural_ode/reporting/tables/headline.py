"""The report's first screen: one answer per question, each derived from the picks below it.

Three questions — which gradient method, which solver and tolerance (or steps), which library —
each answered in one sentence built only from :func:`neural_ode.reporting.tables.decisions.picks`,
the same picks as ``choices.csv`` and "What to run for a gradient accuracy". So the headline cannot
contradict them: it counts which method, configuration and library those picks name.

* A pick *decided by round-off* (float32 rounding alone takes at least half the target,
  :func:`neural_ode.reporting.tables.choices.decided_by_roundoff`) is left out of every answer and
  counted aside: rounding, not the method, decided it.
* A *tie* is said as a tie: where the fastest pick's per-round time ratio to a cell of another method
  (or library) has a 95 % interval containing 1, the answer names it with that ratio
  (:func:`neural_ode.reporting.tables.decisions.tie_text`).
* A target that no cell *brackets* is said so: where every cell of a problem meets a target, the pick
  there is only the cheapest cell measured, and a looser tolerance or fewer steps (measured nowhere)
  may be cheaper still: the answer names the setting to try. A target tighter than every cell's error
  is named as not reached.

Each answer names one figure of the report (by its file stem) that shows its evidence.
"""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from neural_ode import units
from neural_ode.reporting.tables.choices import TARGETS
from neural_ode.reporting.tables.decisions import configuration, picks, tie_text
from neural_ode.reporting.tables.libraries import library_of

#: the questions, in the order the report answers them, with the figures that show the evidence
#: (the first of each list that was drawn is the answer's figure)
QUESTIONS = {
    "method": ("Which method?", ("work_precision", "memory_precision")),
    "solver": ("Which solver and tolerance?", ("tolerance_vs_nfe", "work_precision")),
    "library": ("Which library?", ("nfe_vs_time", "work_precision")),
}

#: a suggested looser tolerance is never looser than this
LOOSEST_SUGGESTED_TOL = 1e-1


def _share(counts: Counter, total: int, role: str) -> str:
    """``direct at every one of the 9 picks`` or ``direct at 7 of 9, adjoint at 2``."""
    ranked = counts.most_common()
    if not ranked:
        return f"{role} no pick has a measured figure for it"
    if len(ranked) == 1:
        name, _ = ranked[0]
        return f"{role} {name} at every one of the {total} picks" if total > 1 else f"{role} {name}"
    first, n = ranked[0]
    rest = ", ".join(f"{name} at {count}" for name, count in ranked[1:])
    return f"{role} {first} at {n} of {total}, {rest}"


def _fair(all_picks: list[dict]) -> tuple[list[dict], str]:
    """The picks not decided by round-off, and the note on those left out (empty if none)."""
    fair = [p for p in all_picks if not p["rounded"]]
    left = len(all_picks) - len(fair)
    note = (
        f" ({left} pick{'s' if left != 1 else ''} decided by float32 round-off left out: rounding, not the "
        "configuration, decided whether they met the target)"
        if left
        else ""
    )
    return fair, note


def _rival_ties(fair: list[dict], key) -> list[tuple[dict, list[tuple]]]:
    """Picks whose fastest cell is tied with a cell of another ``key`` (method or library)."""
    out = []
    for pick in fair:
        mine = key(pick["fast"]) if pick["fast"] is not None else None
        rivals = [(cell, stats) for cell, stats in pick["ties"] if key(cell) != mine]
        if rivals:
            out.append((pick, rivals))
    return out


def _tie_sentence(tied: list[tuple[dict, list[tuple]]], frame: pd.DataFrame, total: int) -> str:
    if not tied:
        return ""
    pick, rivals = tied[0]
    where = f"≤ {units.tolerance(pick['target'])} on {pick['where']}"
    return (
        f"; at {len(tied)} of the {total} the fastest is a tie, not a win (e.g. at {where}, "
        f"{configuration(pick['fast'])} is {tie_text(rivals[:1])}: the other's time over its own, per round)"
    )


def _method_answer(all_picks: list[dict], frame: pd.DataFrame) -> str:
    fair, note = _fair(all_picks)
    if not all_picks:
        errors = pd.to_numeric(frame.get("grad_rel_error", pd.Series(dtype=float)), errors="coerce").dropna()
        if len(errors):
            return (
                f"no cell reached a gradient error of {units.tolerance(TARGETS[0])} or better (the best was "
                f"{units.error(errors.min())}): nothing to pick; a tighter --tol or more --steps would be needed."
            )
        return "no measured cell has both a gradient error and a cost: nothing to pick."
    if not fair:
        return (
            f"every one of the {len(all_picks)} picks is decided by float32 round-off: rounding, not the method, "
            "decided whether a cell met its target; measure in float64 to rank the methods."
        )
    method = lambda cell: str(cell["method"])  # noqa: E731
    fast = Counter(method(p["fast"]) for p in fair if p["fast"] is not None)
    small = Counter(method(p["small"]) for p in fair if p["small"] is not None)
    total = len(fair)
    lead = fast.most_common(1)[0][0] if fast else None
    if lead is not None and len(fast) == 1 and len(small) == 1 and small.most_common(1)[0][0] == lead:
        text = f"{lead}: the fastest and the least memory at every one of the {total} picks"
    else:
        text = _share(fast, sum(fast.values()), "fastest:") + "; " + _share(small, sum(small.values()), "least memory:")
    # one parenthesis: what a pick is, and the picks round-off decided (left out)
    text += " (a pick: a problem's gradient-error target" + (f"; {note.strip()[1:-1]}" if note else "") + ")"
    return text + _tie_sentence(_rival_ties(fair, method), frame, total) + "."


def _suggestion(cells: pd.DataFrame, factor: float) -> str:
    """``--tol 1e-3 (loosest measured: 1e-5) or --steps 2 (fewest measured: 4)``: a tolerance ``factor`` looser
    than the loosest measured (at most :data:`LOOSEST_SUGGESTED_TOL`), half the fewest steps."""
    parts = []
    tols = pd.to_numeric(cells.loc[cells["adaptive"].astype(bool), "rtol"], errors="coerce").dropna()
    if len(tols):
        loosest = float(tols.max())
        looser = min(loosest * factor, LOOSEST_SUGGESTED_TOL)
        if looser > loosest:
            parts.append(f"--tol {units.tolerance(looser)} (loosest measured: {units.tolerance(loosest)})")
    steps = pd.to_numeric(cells.loc[~cells["adaptive"].astype(bool), "steps"], errors="coerce").dropna()
    if len(steps) and steps.min() > 1:
        fewest = int(steps.min())
        parts.append(f"--steps {max(1, fewest // 2)} (fewest measured: {fewest})")
    return " or ".join(parts)


def bracket_notes(all_picks: list[dict], frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Per problem, the targets no cell brackets, as two lists of short texts: ``met`` (every cell met
    them: the pick there is only the cheapest cell measured, a looser setting may be cheaper; the
    setting to try is named) and ``missed`` (tighter than every cell's error: not reached). Both empty
    where every target of :data:`TARGETS` reached is bracketed."""
    met, missed = [], []
    seen = set()
    for pick in all_picks:
        key = str(pick["problem"])
        if key in seen:
            continue
        seen.add(key)
        cells, where = pick["cells"], pick["where"]
        errors = cells["grad_rel_error"].astype(float)
        worst, best = float(errors.max()), float(errors.min())
        everyone = [t for t in TARGETS if t >= worst]
        if everyone:
            span = units.tolerance(everyone[0]) + (f" … {units.tolerance(everyone[-1])}" if len(everyone) > 1 else "")
            # the looser setting to try: as many decades looser as the loosest such target lies above the worst error
            factor = 10.0 ** max(1, math.floor(math.log10(everyone[0] / worst))) if worst > 0 else 10.0
            try_ = _suggestion(cells, factor)
            met.append(f"≤ {span} on {where} (worst {units.error(worst)}" + (f"; try {try_})" if try_ else ")"))
        below = [t for t in TARGETS if t < best]
        if below and best > 0:
            cell = cells.loc[errors.idxmin()]
            missed.append(f"≤ {units.tolerance(below[0])} on {where} (best {units.error(best)}, {configuration(cell)})")
    return met, missed


def _solver_answer(all_picks: list[dict], frame: pd.DataFrame) -> str:
    fair, note = _fair(all_picks)
    if not fair:
        return "no pick that round-off did not decide: see the picks below."
    tightest: dict[str, dict] = {}
    for pick in fair:  # targets loosest first: the last per problem is the tightest
        if pick["fast"] is not None:
            tightest[str(pick["problem"])] = pick
    parts = []
    for pick in tightest.values():
        fast = pick["fast"]
        text = (
            f"≤ {units.tolerance(pick['target'])} on {pick['where']}: {configuration(fast)} "
            f"({units.cost('time', fast['time'])}, gradient error {units.error(fast['grad_rel_error'])})"
        )
        if pick["ties"]:
            text += f", {tie_text(pick['ties'][:1])}"
        parts.append(text)
    text = "the fastest at the tightest gradient error each problem reached: " + "; ".join(parts) + note + "."
    met, missed = bracket_notes(all_picks, frame)
    if met:
        text += (
            " No cell brackets these targets, every cell met them: " + "; ".join(met) + ". There the pick is only the "
            "cheapest setting measured and a looser one may be cheaper."
        )
    if missed:
        text += (
            " Not reached by any cell: "
            + "; ".join(missed)
            + " (a tighter --tol, more --steps or float64 would be needed)."
        )
    return text


def _library_answer(all_picks: list[dict], frame: pd.DataFrame) -> str | None:
    """None where the picks' cells come from one library only."""
    fair, note = _fair(all_picks)
    libraries = {library_of(m) for p in all_picks for m in p["cells"]["method"].dropna().unique()}
    if len(libraries) < 2 or not fair:
        return None
    library = lambda cell: library_of(cell["method"])  # noqa: E731
    fast = Counter(library(p["fast"]) for p in fair if p["fast"] is not None)
    small = Counter(library(p["small"]) for p in fair if p["small"] is not None)
    text = _share(fast, sum(fast.values()), "fastest:") + "; " + _share(small, sum(small.values()), "least memory:")
    text += _tie_sentence(_rival_ties(fair, library), frame, len(fair))
    return f"of {', '.join(sorted(libraries))}: " + text + note + "."


def headline(frame: pd.DataFrame, figures=()) -> list[dict]:
    """The report's answers: dicts with ``question``, ``answer`` (one sentence) and ``figure`` (the
    file stem of the figure that shows the evidence, None where none of :data:`QUESTIONS`' was drawn).

    ``frame`` is the prepared frame of one commit (as :func:`neural_ode.reporting.render_report`
    passes it); ``figures`` the report's :class:`~neural_ode.reporting.figures.base.FigureResult` list.
    The library question is left out where the cells come from one library.
    """
    all_picks = list(picks(frame))
    drawn = {f.name for f in figures if getattr(f, "path", None)}
    answers = {
        "method": _method_answer(all_picks, frame),
        "solver": _solver_answer(all_picks, frame) if all_picks else None,
        "library": _library_answer(all_picks, frame),
    }
    out = []
    for key, answer in answers.items():
        if answer is None:
            continue
        question, wanted = QUESTIONS[key]
        figure = next((name for name in wanted if name in drawn), None)
        out.append({"question": question, "answer": answer, "figure": figure})
    return out


def pick_text(frame: pd.DataFrame) -> str:
    """The "Pick" advice: the method answer of :func:`headline`, so the advice and the headline agree."""
    return _method_answer(list(picks(frame)), frame)


__all__ = ["QUESTIONS", "bracket_notes", "headline", "pick_text"]
