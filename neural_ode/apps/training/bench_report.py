"""The training benchmark's report: ``summary.csv``, figures, ``report.md`` and a self-contained ``report.html``.

Read from ``bench.jsonl`` alone (:func:`neural_ode.apps.training.bench_runner.read_records`); the page
is rendered with the project's report layer (:mod:`neural_ode.reporting.page.render`: its table
formatting and escaping, its ``base.html.j2``), the two templates here.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import jinja2
import pandas as pd

from neural_ode.apps.training.bench_figures import plot_gradient_error, plot_loss, plot_nfe
from neural_ode.apps.training.bench_runner import RECORDS, read_records
from neural_ode.apps.training.bench_tables import SMOOTH, answers, frames, summary_table, time_to_target
from neural_ode.apps.training.bench_tasks import TASKS
from neural_ode.reporting import TEMPLATES, embedded, html_table, markdown_table, md_text
from neural_ode.storage import write_file, write_table

_MD = """# {{ title }}

{% for line in setup %}{{ line }}

{% endfor %}
## The answer

{% for line in answers %}- {{ line }}
{% endfor %}

{% for note in notes %}{{ note }}

{% endfor %}
{% for task in tasks %}
## {{ task.name }}

{{ task.description }}

{{ task.table }}

![loss]({{ task.loss }})

![NFE over training]({{ task.nfe }})

![gradient error]({{ task.grad }})

{% endfor %}
## Runs

{{ runs }}
"""

_HTML = """{% extends "base.html.j2" %}
{% block title %}{{ title }}{% endblock %}
{% block body %}
<h1>{{ title }}</h1>
{% for line in setup %}<p class="note">{{ line }}</p>
{% endfor %}
<h2>The answer</h2>
<ul>{% for line in answers %}<li>{{ line }}</li>{% endfor %}</ul>
{% for note in notes %}<p class="note">{{ note }}</p>
{% endfor %}
{% for task in tasks %}
<h2>{{ task.name }}</h2>
<p class="note">{{ task.description }}</p>
<div class="scroll">{{ task.table | safe }}</div>
<figure><img alt="loss" src="{{ task.loss }}"></figure>
<figure><img alt="NFE over training" src="{{ task.nfe }}"></figure>
<figure><img alt="gradient error" src="{{ task.grad }}"></figure>
{% endfor %}
<h2>Runs</h2>
<div class="scroll">{{ runs | safe }}</div>
{% endblock %}
"""

NOTES = [
    f"Time to target: the first iteration at which the training loss averaged over the last {SMOOTH} iterations "
    "is at or below the target, and the training time until then (forward, backward and optimiser step of each "
    "iteration, one torch thread; gradient checks and validation excluded); median (min–max) over the seeds that "
    "reached it. Final validation: after the last iteration, forward with the configuration's own solver and "
    "tolerance (the model as it would be used); median over seeds.",
    "A configuration identical in every seed is the same initialisation, batch order and optimiser (Adam, constant "
    "learning rate); only the gradient method, solver and tolerance differ. checkpoint walks a fixed rk4 grid "
    "(it cannot take dopri5): its coarser grid is paired with the looser tolerance.",
    "Figures: loss lines are medians over seeds, bands their min–max; configurations whose gradients agree to "
    "plotting precision lie on top of each other in loss against iterations (the last drawn shows), and part "
    "company in loss against time by their cost per iteration. Gradient error: the relative L2 distance of the "
    "iteration's gradient from a float64 reference gradient at the same parameters and batch (spiral: dopri8 at "
    "1e-12; digits: rk4 on 32 steps, its ReLU kinks keep adaptive references from converging); the dotted line is "
    "10x the reference's own error estimate (the same reference, looser, at iteration 0): errors below it cannot "
    "be told from the reference's.",
]

RUN_COLUMNS = ("task", "label", "seed", "status", "error", "iterations_done", "training_s", "wall_s")


def _environment(autoescape: bool) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"bench.md.j2": _MD, "bench.html.j2": _HTML}), jinja2.FileSystemLoader(TEMPLATES)]
    )
    return jinja2.Environment(loader=loader, autoescape=autoescape, undefined=jinja2.StrictUndefined)


def task_targets(runs: pd.DataFrame, overrides: dict | None = None) -> dict[str, tuple[float, ...]]:
    """The loss targets of each task in ``runs``: ``overrides[task]`` or the task's own."""
    overrides = overrides or {}
    return {task: tuple(overrides.get(task, TASKS[task].targets)) for task in dict.fromkeys(runs["task"])}


def _setup(data: dict) -> list[str]:
    runs = data["runs"]
    lines = []
    for task, group in runs.groupby("task", sort=False):
        first = group.iloc[0]
        lines.append(
            f"{task}: {group['label'].nunique()} configurations x {group['seed'].nunique()} seeds "
            f"({', '.join(map(str, sorted(group['seed'].unique())))}); {first['iterations']} iterations, batch "
            f"{first['batch']}, width {first['width']}, Adam at {first['lr']:g}; gradient checked every "
            f"{first['check_every']} iterations; total training time {group['training_s'].sum():.0f} s, "
            f"wall time {group['wall_s'].sum():.0f} s."
        )
    if len(runs):
        first = runs.iloc[0]
        lines.append(
            f"torch {first.get('torch_version', '?')}, torchdiffeq {first.get('torchdiffeq_version', '?')}, "
            f"{first.get('threads', '?')} thread(s), {first.get('cpu', first.get('device_name', '?'))}, "
            f"commit {str(first.get('git_commit', '?'))[:10]}."
        )
    return lines


def render_bench_report(out_dir, *, targets: dict | None = None, choices: pd.DataFrame | None = None) -> Path:
    """Render the report of the results folder ``out_dir`` into it; returns ``report.html``'s path."""
    out_dir = Path(out_dir)
    data = frames(read_records(out_dir / RECORDS))
    goals = task_targets(data["runs"], targets)
    summary = summary_table(data, goals)
    write_table(summary, out_dir / "summary.csv")
    write_table(time_to_target(data["iterations"], data["runs"], goals), out_dir / "time_to_target.csv")
    figures = out_dir / "figures"
    tasks = []
    for task in goals:
        table = summary[summary["task"] == task].dropna(axis=1, how="all").drop(columns=["task"])
        reach = [c for c in table if c.startswith("loss ≤")]
        table = table[["configuration", *reach, *(c for c in table if c not in reach and c != "configuration")]]
        tasks.append(
            {
                "name": task,
                "table": table,
                "description": TASKS[task].description,
                "loss": plot_loss(data, task, goals[task], TASKS[task].loss_name, figures / f"loss_{task}.png"),
                "nfe": plot_nfe(data, task, figures / f"nfe_{task}.png"),
                "grad": plot_gradient_error(data, task, figures / f"grad_error_{task}.png"),
            }
        )
    runs = data["runs"][[c for c in RUN_COLUMNS if c in data["runs"]]]
    context = {
        "title": "Training benchmark: time to a target loss by gradient method, solver and tolerance",
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "setup": _setup(data),
        "answers": answers(data, goals, choices),
        "notes": NOTES,
    }
    figure_keys = ("loss", "nfe", "grad")
    md_tasks = [
        dict(
            t, table=markdown_table(t["table"]), **{k: Path(t[k]).relative_to(out_dir).as_posix() for k in figure_keys}
        )
        for t in tasks
    ]
    md = dict(context, runs=markdown_table(runs), tasks=md_tasks)
    md["answers"] = [md_text(line) for line in context["answers"]]
    write_file(out_dir / "report.md", _environment(False).get_template("bench.md.j2").render(md))
    html_tasks = [dict(t, table=html_table(t["table"]), **{k: embedded(t[k]) for k in figure_keys}) for t in tasks]
    html = dict(context, runs=html_table(runs), tasks=html_tasks)
    path = out_dir / "report.html"
    write_file(path, _environment(True).get_template("bench.html.j2").render(html))
    return path
