"""The committed CartPole ablation report is what rlkit-report makes of the study's runs.

The study's run directories (``experiments/cartpole_ablation/runs/``) are git-ignored, so the runs are
rebuilt from what is committed: one run per row of the committed ``runs.csv``, holding the ``config.yaml``
keys that name it (experiment, variant, seed, env) and a ``summary.json`` with its final evaluation
return. ``rlkit-report`` over them, with the committed report's settings, must reproduce every committed
number that follows from the per-run scores: ``scores.csv``, ``aggregates.csv``,
``probability_of_improvement.csv``, the scores and suites of ``report.json`` (bootstrap CIs, per-task
probability of improvement, performance profiles), the tables of ``report.md`` and the README's result
table. The learning curves need the runs' ``metrics.jsonl``; they are only checked against the scores.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import run_cli

STUDY = Path(__file__).resolve().parents[2] / "experiments" / "cartpole_ablation"
TABLES = ("scores.csv", "aggregates.csv", "probability_of_improvement.csv")
PLOTS = ("learning_curves.png", "aggregates_CartPole-v1.png", "performance_profile_CartPole-v1.png",
         "probability_of_improvement_CartPole-v1.png")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write_runs(root: Path) -> None:
    """One run directory per row of the committed ``runs.csv``, laid out as the sweep wrote them."""
    for row in _rows(STUDY / "runs.csv"):
        run = root / "cartpole_ablation" / row["task"] / row["variant"] / f"seed{row['seed']}"
        run.mkdir(parents=True)
        config = {"experiment_name": "cartpole_ablation", "variant": row["variant"], "seed": int(row["seed"]),
                  "env": {"id": row["env_id"]}}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        summary = {"eval/episodic_return": float(row["score"]), "seed": int(row["seed"]), "env": row["env_id"]}
        (run / "summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """``(out dir, regenerated report.json, committed report.json)``."""
    tmp = tmp_path_factory.mktemp("committed_report")
    committed = json.loads((STUDY / "report.json").read_text())
    _write_runs(tmp / "runs")
    out = tmp / "out"
    args = [str(tmp / "runs"), "--out", str(out), "--reps", str(committed["reps"]), "--seed", str(committed["seed"]),
            "--metric", committed["metric"]]
    result = run_cli("rlkit-report", args, cwd=tmp, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text()), committed


def test_committed_tables_are_reproduced(rebuilt):
    out, _, _ = rebuilt
    for name in TABLES:
        assert _rows(out / name) == _rows(STUDY / name), name
    drop_path = [{k: v for k, v in row.items() if k != "path"} for row in _rows(STUDY / "runs.csv")]
    assert [{k: v for k, v in row.items() if k != "path"} for row in _rows(out / "runs.csv")] == drop_path
    scores = {row["variant"]: float(row["score_mean"]) for row in _rows(STUDY / "scores.csv")}
    assert len(scores) == 7 and scores["full"] == pytest.approx(276.7, abs=0.05)


def test_committed_report_json_numbers_are_reproduced(rebuilt):
    _, report, committed = rebuilt
    assert (report["confidence"], report["baseline"], report["baseline_reason"]) == (
        committed["confidence"], committed["baseline"], committed["baseline_reason"])
    assert (report["grouping"]["rule"], report["grouping"]["keys"]) == (
        committed["grouping"]["rule"], committed["grouping"]["keys"])
    assert report["variants"] == committed["variants"]
    assert report["scores"] == committed["scores"]
    assert report["suites"] == committed["suites"]  # aggregates, improvement, performance profiles, notes


def test_committed_learning_curves_end_at_the_scores(rebuilt):
    _, _, committed = rebuilt
    means = {row["variant"]: row["score_mean"] for row in committed["scores"]}
    curves = committed["learning_curves"]["CartPole-v1"]
    assert sorted(curves) == sorted(means)
    for variant, curve in curves.items():
        assert curve["runs"] == committed["variants"][variant]["runs"]
        assert curve["mean"][-1] == pytest.approx(means[variant]), variant  # the last evaluation is the score


def _table_rows(markdown: str) -> set[str]:
    return {line.replace(" ⚠", "") for line in markdown.splitlines() if line.startswith("|")}


def test_committed_markdown_tables_are_reproduced(rebuilt):
    out, _, _ = rebuilt
    committed = _table_rows((STUDY / "report.md").read_text())
    assert len(committed) > 20 and committed == _table_rows((out / "report.md").read_text())


def test_readme_result_table_matches_the_report(rebuilt):
    """Each README row ``| variant | mean [lo, hi] | P [lo, hi] |`` states the report's numbers, rounded."""
    _, report, _ = rebuilt
    suite = report["suites"]["CartPole-v1"]
    rows = re.findall(r"^\| (full|no_\w+) \| (.+?) \| (.+?) \|$", (STUDY / "README.md").read_text(), re.MULTILINE)
    assert sorted(v for v, _, _ in rows) == sorted(report["variants"])
    for variant, mean, poi in rows:
        est = suite["aggregates"][variant]["mean"]
        assert mean == "{:g} [{:g}, {:g}]".format(*(round(est[k], 1) for k in ("point", "lower", "upper"))), variant
        if variant == report["baseline"]:
            assert poi == "–"
        else:
            p = suite["probability_of_improvement"][variant]
            assert poi == f"{p['point']:.2g} [{p['lower']:.2g}, {p['upper']:.2g}]", variant


def test_committed_plots_are_linked_from_the_report():
    markdown = (STUDY / "report.md").read_text()
    for png in PLOTS:
        assert (STUDY / png).stat().st_size > 10_000 and f"]({png})" in markdown, png
