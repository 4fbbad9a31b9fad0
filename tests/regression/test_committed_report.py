"""The committed CartPole ablation report is what rlkit-report makes of the committed runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import run_cli

STUDY = Path(__file__).resolve().parents[2] / "experiments" / "cartpole_ablation"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.skipif(not (STUDY / "runs").is_dir(), reason="experiments/ not in this checkout")
def test_committed_report_rebuilds_from_committed_runs(tmp_path):
    result = run_cli("rlkit-report", [str(STUDY / "runs"), "--out", str(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("scores.csv", "aggregates.csv", "probability_of_improvement.csv"):
        assert _rows(tmp_path / name) == _rows(STUDY / name), name
    scores = {row["variant"]: float(row["score_mean"]) for row in _rows(STUDY / "scores.csv")}
    assert len(scores) == 7 and scores["full"] == pytest.approx(276.7, abs=0.05)
    for png in ("learning_curves.png", "aggregates_CartPole-v1.png", "performance_profile_CartPole-v1.png"):
        assert (STUDY / png).stat().st_size > 10_000 and f"]({png})" in (STUDY / "report.md").read_text()
