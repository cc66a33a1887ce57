"""The training benchmark's tables from its records (``bench.jsonl``): per-iteration frames, time to target, answers.

Nothing is re-run: every function reads the records :mod:`neural_ode.apps.training.bench_runner` kept.

Time to a target loss: the first iteration at which the training loss, averaged over the last
:data:`SMOOTH` iterations (a batch's loss alone is noisy), is at or below the target, and the
training time (s, one core) until then. Over seeds: the median, minimum and maximum of the seeds
that reached it; a configuration none of whose seeds reached it is "not reached in N iterations".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from neural_ode.config import ConfigError

#: iterations in the trailing mean of the training loss that time to target is read from
SMOOTH = 10
#: what identifies a configuration (a line of the figures, a row of the tables)
CONFIG_COLUMNS = ("task", "method", "solver", "rtol", "steps")
#: the columns of choices.csv that the comparison reads
CHOICE_COLUMNS = ("workload", "target_grad_rel_error", "criterion", "method", "solver", "steps", "rtol")
#: columns of choices.csv that tell two picks at one accuracy target apart (kept when present)
CHOICE_CONTEXT = ("horizon", "outputs", "batch")


def frames(records: list[dict]) -> dict[str, pd.DataFrame]:
    """``runs``, ``iterations`` and ``checks`` frames, each row with its run's config columns and ``label``."""
    runs = pd.DataFrame([r for r in records if r.get("kind") == "run"])
    if runs.empty:
        empty = pd.DataFrame(columns=["key", "label", *CONFIG_COLUMNS, "seed"])
        return {"runs": empty, "iterations": empty.copy(), "checks": empty.copy()}
    config = pd.DataFrame(list(runs["config"]))
    runs = pd.concat([runs.drop(columns=["config"]).reset_index(drop=True), config], axis=1)
    keys = runs[["key", *CONFIG_COLUMNS, "seed", "iterations"]]
    out = {"runs": runs}
    for kind, name in (("iteration", "iterations"), ("check", "checks")):
        frame = pd.DataFrame([r for r in records if r.get("kind") == kind])
        if frame.empty:
            frame = pd.DataFrame(columns=["key", "label", "iteration", "elapsed_s"])
        out[name] = frame.merge(keys, on="key", how="inner")
    iterations = out["iterations"].sort_values(["key", "iteration"])
    if len(iterations):
        iterations["smoothed_loss"] = iterations.groupby("key")["loss"].transform(
            lambda s: s.rolling(SMOOTH, min_periods=min(SMOOTH, len(s))).mean()
        )
    out["iterations"] = iterations
    return out


def _config_order(runs: pd.DataFrame) -> list[str]:
    """Configuration labels in plan order (the order the runs were recorded)."""
    return list(dict.fromkeys(runs["label"]))


def time_to_target(iterations: pd.DataFrame, runs: pd.DataFrame, targets: dict[str, tuple[float, ...]]) -> pd.DataFrame:
    """Per task, configuration and target: seeds reached, and the median/min/max time and median iteration."""
    rows = []
    for (task, label), group in runs.groupby(["task", "label"], sort=False):
        for target in targets.get(task, ()):
            times, hits = [], []
            for run in group.itertuples():
                mine = iterations[iterations["key"] == run.key]
                reached = mine[mine["smoothed_loss"] <= target]
                if len(reached):
                    times.append(float(reached["elapsed_s"].iloc[0]))
                    hits.append(int(reached["iteration"].iloc[0]))
            rows.append(
                {
                    "task": task, "configuration": label, "target": target, "seeds": len(group),
                    "seeds_reached": len(times), "iterations": int(group["iterations"].max()),
                    "median_s": float(np.median(times)) if times else math.nan,
                    "min_s": min(times, default=math.nan), "max_s": max(times, default=math.nan),
                    "median_iteration": float(np.median(hits)) if hits else math.nan,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def target_text(row) -> str:
    """One cell of the time-to-target table: ``1.23 s (1.10-1.41), it. 45``, or why not."""
    if row["seeds_reached"] == 0:
        return f"not reached in {row['iterations']} iterations"
    text = f"{row['median_s']:.3g} s ({row['min_s']:.3g}–{row['max_s']:.3g}), it. {row['median_iteration']:.0f}"
    missed = row["seeds"] - row["seeds_reached"]
    return text if missed == 0 else f"{text}; {missed} of {row['seeds']} seeds not reached in {row['iterations']} it."


def summary_table(data: dict[str, pd.DataFrame], targets: dict[str, tuple[float, ...]]) -> pd.DataFrame:
    """Per task and configuration: time to each target, final validation, time per iteration, NFE, failures."""
    runs, iterations, checks = data["runs"], data["iterations"], data["checks"]
    reach = time_to_target(iterations, runs, targets)
    rows = []
    for (task, label), group in runs.groupby(["task", "label"], sort=False):
        row = {"task": task, "configuration": label}
        for target in targets.get(task, ()):
            match = reach[(reach["task"] == task) & (reach["configuration"] == label) & (reach["target"] == target)]
            row[f"loss ≤ {target:g}"] = target_text(match.iloc[0])
        mine = iterations[iterations["key"].isin(group["key"])]
        last = checks[checks["key"].isin(group["key"])].sort_values("iteration").groupby("key").tail(1)
        row["final val loss"] = float(last["val_loss"].median()) if len(last) else math.nan
        if "val_accuracy" in last and last["val_accuracy"].notna().any():
            row["final val accuracy"] = float(last["val_accuracy"].median())
        row["ms / iteration"] = 1000 * float(mine["time_s"].median()) if len(mine) else math.nan
        row["NFE fwd / bwd"] = (
            f"{mine['nfe_forward'].median():.0f} / {mine['nfe_backward'].median():.0f}" if len(mine) else "—"
        )
        failed = group[group["status"] != "ok"]
        row["failed seeds"] = ", ".join(f"{s.seed}: {s.status}" for s in failed.itertuples()) or "none"
        rows.append(row)
    return pd.DataFrame(rows)


def read_choices(path) -> pd.DataFrame:
    """The per-gradient picks of a sweep (its ``choices.csv``), the columns :data:`CHOICE_COLUMNS` only.

    Raises:
        ConfigError: the file is not a CSV with those columns.
    """
    try:
        choices = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"--choices {path}: not a CSV file ({exc})") from None
    missing = [c for c in CHOICE_COLUMNS if c not in choices]
    if missing:
        raise ConfigError(f"--choices {path}: no column {', '.join(missing)}; a sweep's choices.csv has them")
    return choices[[*CHOICE_COLUMNS, *(c for c in CHOICE_CONTEXT if c in choices)]]


def _picks(choices: pd.DataFrame, task: str, grad_error: float) -> list[dict]:
    """The per-gradient time picks for ``task`` at the tightest accuracy target the training
    winner's gradient error met (else the loosest target there is): one per problem the sweep
    measured (horizon, outputs, batch); empty without one."""
    rows = choices[(choices["workload"] == task) & (choices["criterion"] == "time")].copy()
    rows["target"] = pd.to_numeric(rows["target_grad_rel_error"], errors="coerce")
    rows = rows.dropna(subset=["target"]).sort_values("target")
    if rows.empty:
        return []
    met = rows[rows["target"] >= grad_error] if not math.isnan(grad_error) else rows.iloc[:0]
    target = float(met["target"].min()) if len(met) else float(rows["target"].max())
    return rows[rows["target"] == target].to_dict("records")


def _pick_text(pick: dict, method: str, solver: str) -> str:
    solve = f"{pick['solver']} {pick['rtol'] or pick['steps'] + ' steps'}"
    where = ", ".join(f"{c} {pick[c]}" for c in CHOICE_CONTEXT if c in pick)
    verdict = "a different method"
    if pick["method"] == method:
        verdict = "the same method and solver" if pick["solver"] == solver else "the same method"
    return f"{pick['method']} {solve}{f' ({where})' if where else ''}: {verdict}"


def ranking_agreement(data: dict[str, pd.DataFrame], reach: pd.DataFrame, task: str, target: float) -> tuple:
    """Kendall's tau between the ranking of configurations by time per iteration over the first
    :data:`SMOOTH` iterations (what a per-gradient benchmark measures, at the initial parameters)
    and by median time to ``target``, over configurations that reached it in every seed; (tau, n)."""
    iterations = data["iterations"]
    reached = reach[(reach["task"] == task) & (reach["target"] == target) & (reach["seeds_reached"] == reach["seeds"])]
    early = iterations[(iterations["task"] == task) & (iterations["iteration"] < SMOOTH)]
    per_gradient = early.groupby("label")["time_s"].median()
    common = [c for c in reached["configuration"] if c in per_gradient]
    if len(common) < 3:
        return math.nan, len(common)
    tau = kendalltau(per_gradient[common].to_numpy(), reached.set_index("configuration").loc[common, "median_s"])
    return float(tau.statistic), len(common)


def answers(data: dict[str, pd.DataFrame], targets: dict, choices: pd.DataFrame | None) -> list[str]:
    """One sentence per task: which configuration reached the tightest target every seed of some
    configuration reached first, the per-gradient pick beside it, and how well per-gradient cost ranked them."""
    reach = time_to_target(data["iterations"], data["runs"], targets)
    checks = data["checks"]
    sentences = []
    for task in dict.fromkeys(data["runs"]["task"]):
        full = reach[(reach["task"] == task) & (reach["seeds_reached"] == reach["seeds"])]
        if full.empty:
            sentences.append(
                f"{task}: no configuration reached any target ({', '.join(map(str, targets[task]))}) in every seed."
            )
            continue
        target = float(full["target"].min())
        best = full[full["target"] == target].sort_values("median_s").iloc[0]
        keys = data["runs"][(data["runs"]["task"] == task) & (data["runs"]["label"] == best["configuration"])]["key"]
        errors = checks[checks["key"].isin(keys)]["grad_rel_error"]
        grad_error = float(errors.median()) if len(errors) else math.nan
        text = (
            f"{task}: {best['configuration']} reached training loss {target:g} first (median {best['median_s']:.3g} s "
            f"of one core, iteration {best['median_iteration']:.0f}; median gradient error {grad_error:.2g})"
        )
        picks = [] if choices is None else _picks(choices, task, grad_error)
        if choices is None:
            text += "; no choices.csv was given to compare with"
        elif not picks:
            text += "; choices.csv has no time pick for this workload"
        else:
            method, solver = best["configuration"].split()[:2]
            text += (
                f"; the per-gradient pick (fastest gradient within relative error {picks[0]['target_grad_rel_error']}) "
                f"was {'; '.join(_pick_text(p, method, solver) for p in picks)}"
            )
        tau, n = ranking_agreement(data, reach, task, target)
        if not math.isnan(tau):
            text += (
                f"; ranking by time per gradient at the start against time to target: Kendall's tau {tau:.2f} over {n}"
            )
        sentences.append(text + ".")
    return sentences
