"""The report's history: three commits give history figures, and cells pair within a commit."""

from __future__ import annotations

import json

import pandas as pd
from test_compare import _rows

from neural_ode.cli import main as cli_main
from neural_ode.reporting.columns import PAIRING_COLUMNS, prepare
from neural_ode.reporting.tables.history import history_changes
from neural_ode.reporting.tables.recommend import head_to_head
from neural_ode.results.compare import select_commit

COMMITS = ("1111aaaa", "2222bbbb", "3333cccc")


def _three_commits() -> list[dict]:
    rows = []
    for day, commit in enumerate(COMMITS, 1):
        # the third commit raises the adjoint's saved bytes 20 %
        batch = _rows(commit=commit, when=f"2026-11-0{day}T10:00:00+00:00")
        for row in batch:
            if commit == COMMITS[2] and row["method"] == "adjoint":
                row["saved_bytes"] = int(row["saved_bytes"] * 1.2)
        rows += batch
    return rows


def test_three_commits_render_history_figures(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _three_commits()))
    assert cli_main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").glob("history*.png"))
    assert "history_saved_bytes.png" in figures and "history_nfe_forward.png" in figures
    assert "history_time_forward_s.png" in figures
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## History across commits" in md
    assert "These results span 3 commits" in md and f"`{COMMITS[2]}`" in md
    history = md.split("## History across commits")[1].split("## Growth")[0]
    # the change is named at the commit where it happened, against the one before
    assert f"| {COMMITS[2]} | {COMMITS[1]} " in history.replace("  ", " ").replace("  ", " ")
    assert "saved_bytes" in history and "+20.0 %" in history
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'id="figure-history_saved_bytes"' in html


def test_changes_name_the_commit_and_nothing_else_changed():
    changes = history_changes(prepare(pd.DataFrame(_three_commits())))
    assert set(changes["commit"]) == {COMMITS[2][:8]}
    assert set(changes["metric"]) == {"saved_bytes"}
    assert set(changes["verdict"]) == {"regression"}
    assert len(changes) == 2  # the two adjoint cells


def test_head_to_head_pairs_within_a_commit_and_host():
    assert {"git_commit", "hostname"} <= set(PAIRING_COLUMNS)
    rows = _three_commits()
    for row in rows:  # direct's peak differs by commit: a cross-commit pair would show another ratio
        if row["method"] == "direct":
            row["cpu_peak_bytes"] = {COMMITS[0]: 30_000, COMMITS[1]: 60_000, COMMITS[2]: 90_000}[row["git_commit"]]
    rows += [dict(row, hostname="otherhost", cpu_peak_bytes=1) for row in rows if row["method"] == "direct"]
    for commit in COMMITS:
        data, _ = select_commit(prepare(pd.DataFrame(rows)), commit)
        pairs = head_to_head(data)
        expected = {COMMITS[0]: 30_000, COMMITS[1]: 60_000, COMMITS[2]: 90_000}[commit] / 1e6
        assert list(pairs["direct memory (MB)"]) == [expected]


def test_report_uses_the_commit_named(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _three_commits()))
    # tables only: the commit's name is in the text, and figures would take most of the time
    assert cli_main(["report", str(path), "--out", str(tmp_path / "r"), "--commit", "1111", "--no-figures"]) == 0
    assert "use commit `1111aaaa`" in (tmp_path / "r" / "report.md").read_text().replace("\n", " ")
    assert cli_main(["report", str(path), "--out", str(tmp_path / "r"), "--commit", "9999"]) == 2
    assert "not a commit" in capsys.readouterr().err
