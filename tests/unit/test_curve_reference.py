"""`rlkit-report --reference revisiting_rainbow`: published MinAtar learning curves shipped and compared with runs."""

from __future__ import annotations

import csv
import gzip
import json
import math
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from rlkit.analysis.curve_reference import iteration_means
from rlkit.analysis.reference_data import CURVE_REFERENCES, ReferenceError, parse_references, published_curves
from rlkit.analysis.report import ReportOptions, write_report
from rlkit.analysis.runs import load_run
from rlkit.logging.jsonl import read_metrics
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
M = 1_000_000
GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]


def _minatar_run(run_dir: Path, game: str, seed: int, episodes: list[tuple[int, float]], *, steps: int = 2 * M,
                 sticky: float = 0.1, gz: bool = False, variant: str = "dqn") -> Path:
    """A finished `experiment=minatar_dqn`-like run whose training episodes end at the given (step, return)s."""
    config = {"seed": seed, "experiment_name": "minatar", "variant": variant, "train": {"steps": steps},
              "env": {"name": "minatar", "game": game, "id": f"minatar_{game}", "sticky_action_prob": sticky,
                      "difficulty_ramping": True, "minimal_action_set": False}}
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    records = [{"step": s, "time": s / 1000, "charts/episodic_return": r, "charts/episodic_length": 100.0}
               for s, r in episodes]
    records.append({"step": steps, "time": steps / 1000, "eval/episodic_return": 7.0, "final/episodic_return": 7.0})
    text = "".join(json.dumps(r) + "\n" for r in records)
    if gz:
        (run_dir / "metrics.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (run_dir / "metrics.jsonl").write_text(text)
    (run_dir / "summary.json").write_text(json.dumps({"eval/episodic_return": 7.0, "steps": steps, "seed": seed,
                                                     "env": f"minatar_{game}"}))
    return run_dir


# ----------------------------------------------------------------------------- shipped data
def test_shipped_curves_cover_both_agents_on_the_five_games_with_how_each_point_was_read():
    curves = published_curves("revisiting_rainbow")
    assert sorted(curves) == [(g, a) for g in GAMES for a in ("dqn", "rainbow")]
    for (game, agent), points in curves.items():
        expected = range(7) if (game, agent) == ("freeway", "rainbow") else range(10)  # hidden: SOURCE.md
        assert sorted(points) == list(expected), (game, agent)
        assert {read for _, read in points.values()} <= {"pixel", "pixel_partial", "eye"}
    # spot checks against the figure (experiments/minatar/published/read_figure.py prints the file)
    assert curves[("asterix", "dqn")][1] == (19.7, "pixel")
    assert curves[("space_invaders", "rainbow")][9] == (92.9, "pixel")
    assert curves[("seaquest", "dqn")][0] == (0.8, "eye")
    # the learning curves rise: each agent's last iteration beats its first on every game
    assert all(points[max(points)][0] > points[0][0] for points in curves.values())
    data = resources.files("rlkit.analysis").joinpath("data", "minatar")
    assert {"SOURCE.md", CURVE_REFERENCES["revisiting_rainbow"].file} <= {p.name for p in data.iterdir()}
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"data/minatar/*.csv", "data/minatar/*.md"} <= set(globs["rlkit.analysis"])  # the wheel ships them


def test_reference_names_include_the_curves_and_unknown_ones_list_all():
    assert parse_references(["drq_eps,revisiting_rainbow", "revisiting_rainbow"]) == ("drq_eps", "revisiting_rainbow")
    with pytest.raises(ReferenceError, match="valid names: der, drq_eps, revisiting_rainbow, spr"):
        parse_references(["rainbow"])


# ----------------------------------------------------------------------------- iteration means
def test_iteration_means_average_the_episodes_that_ended_in_each_completed_iteration(tmp_path):
    episodes = [(10, 1.0), (M, 3.0),  # iteration 0 (an episode ending at step M is still iteration 0): mean 2
                (M + 1, 5.0), (2 * M - 5, 6.0), (2 * M, 10.0),  # iteration 1: 7
                (2 * M + 7, 100.0)]  # iteration 2: not completed (the run has 2.5M steps): left out
    run = load_run(_minatar_run(tmp_path / "a", "asterix", 0, episodes, steps=2 * M + M // 2))
    assert iteration_means(run, M) == [2.0, 7.0]
    run = load_run(_minatar_run(tmp_path / "b", "asterix", 0, [(M + 2, 4.0)], steps=3 * M))
    means = iteration_means(run, M)
    assert math.isnan(means[0]) and means[1] == 4.0 and math.isnan(means[2])  # no episode ended: NaN
    assert iteration_means(load_run(_minatar_run(tmp_path / "c", "asterix", 0, [(5, 1.0)], steps=M - 1)), M) == []


def test_gzipped_metrics_read_like_plain_ones(tmp_path):
    episodes = [(10, 1.0), (M + 1, 2.0)]
    plain = load_run(_minatar_run(tmp_path / "plain", "breakout", 0, episodes))
    packed = load_run(_minatar_run(tmp_path / "packed", "breakout", 0, episodes, gz=True))
    assert packed.records == plain.records and len(plain.records) == 3
    assert read_metrics(tmp_path / "packed" / "metrics.jsonl.gz") == read_metrics(tmp_path / "plain" / "metrics.jsonl")


# ----------------------------------------------------------------------------- a study
@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict, str]:
    root = tmp_path_factory.mktemp("minatar")
    # asterix: two seeds; iteration means 4/20 (seed 0) and 8/30 (seed 1)
    _minatar_run(root / "asterix" / "seed0", "asterix", 0, [(100, 3.0), (900_000, 5.0), (1_500_000, 20.0)])
    _minatar_run(root / "asterix" / "seed1", "asterix", 1, [(200, 8.0), (1_200_000, 25.0), (1_900_000, 35.0)],
                 gz=True)
    _minatar_run(root / "breakout" / "seed0", "breakout", 0, [(10, 2.0)], steps=M // 2)  # shorter than an iteration
    _minatar_run(root / "freeway" / "seed0", "freeway", 0, [(5, 1.0), (M + 5, 2.0)], sticky=0.0)
    cartpole = root / "cartpole" / "seed0"
    _minatar_run(cartpole, "asterix", 0, [(5, 1.0)])
    config = yaml.safe_load((cartpole / "config.yaml").read_text())
    config["env"] = {"name": "gym", "id": "CartPole-v1"}
    (cartpole / "config.yaml").write_text(yaml.safe_dump(config))
    report = write_report([root], root / "report", ReportOptions(reps=20, references=("revisiting_rainbow",)))
    return root / "report", report, (root / "report" / "report.md").read_text()


def test_study_means_per_iteration_beside_the_published_points(study):
    out, report, _ = study
    section = report["curve_reference"]["per_reference"]["revisiting_rainbow"]
    assert report["reference"] is None  # no Atari-100k reference asked for
    asterix = next(row for row in section["per_game"] if row["game"] == "asterix")
    first, second = asterix["iterations"]
    assert (first["mean"], first["std"], first["runs"]) == (6.0, pytest.approx(np.std([4.0, 8.0], ddof=1)), 2)
    assert second["mean"] == 25.0 and second["per_seed"] == {0: 20.0, 1: 30.0}
    assert second["published"] == {"dqn": {"value": 19.7, "read": "pixel"},
                                   "rainbow": {"value": 16.2, "read": "pixel"}}
    assert asterix["variant"] == "dqn" and second["ratio"] == pytest.approx(25.0 / 19.7)  # to the agent it is named after
    assert first["ratio"] == pytest.approx(6.0 / 5.9)
    rows = list(csv.DictReader((out / "reference_curves.csv").open()))
    got = {(r["game"], r["iteration"]): (r["rlkit_mean"], r["rlkit_per_seed"], r["published_dqn"]) for r in rows}
    assert got[("asterix", "1")] == ("25.0", "20;30", "19.7")
    assert float(next(r for r in rows if (r["game"], r["iteration"]) == ("asterix", "1"))["ratio_to_same_agent"]) \
        == pytest.approx(25.0 / 19.7)
    assert got[("freeway", "0")] == ("1.0", "1", "46.2")


def test_study_report_says_what_was_left_out_and_warns_off_protocol_runs(study):
    out, report, md = study
    section = report["curve_reference"]["per_reference"]["revisiting_rainbow"]
    reasons = {x["task"]: x["reason"] for x in section["left_out"]}
    assert reasons == {"CartPole-v1": "not a minatar run",
                       "minatar_breakout": "shorter than one iteration (1,000,000 agent steps)"}
    assert [(p["game"], p["issues"]) for p in section["protocol"]] == [
        ("freeway", ["env.sticky_action_prob=0.0, the published runs used 0.1"])]
    assert "## Published learning curves" in md and "### Revisiting Rainbow (MinAtar) (`revisiting_rainbow`)" in md
    assert "| asterix | " in md and "s0: 20, s1: 30" in md and "not the published protocol" in md
    png = out / "reference_revisiting_rainbow.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.with_suffix(".svg").stat().st_size > 0
    assert report["files"]["curve_reference/revisiting_rainbow"] == png.name


def test_approximate_published_reads_are_marked(tmp_path):
    _minatar_run(tmp_path / "runs" / "seed0", "seaquest", 0, [(5, 1.0), (M + 5, 2.0)])
    write_report([tmp_path / "runs"], tmp_path / "out", ReportOptions(reps=20, references=("revisiting_rainbow",)))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| seaquest | " in md and "| ≈0.8 | ≈1.4 |" in md and "| ≈4.0 | ≈4.1 |" in md


def test_unknown_reference_on_the_command_line_lists_the_curve_reference(tmp_path):
    proc = run_cli("rlkit-report", [str(tmp_path), "--reference", "minatar"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "valid names: der, drq_eps, revisiting_rainbow, spr" in proc.stderr


def test_minatar_study_collect_gzips_metrics_and_reports_against_the_published_curves(tmp_path):
    """experiments/minatar/run_study.sh collect on a copy of the script, with one finished and one unfinished run."""
    study = tmp_path / "experiments" / "minatar"
    study.mkdir(parents=True)
    shutil.copy(REPO / "experiments" / "minatar" / "run_study.sh", study)
    shutil.copy(REPO / "experiments" / "study.sh", study.parent)
    done = _minatar_run(study / "runs" / "asterix" / "dqn" / "seed0", "asterix", 0, [(5, 4.0), (M + 5, 9.0)])
    (study / "runs" / "breakout" / "dqn" / "seed0").mkdir(parents=True)  # unfinished: no summary.json
    _minatar_run(study / "runs" / "asterix" / "dqn_old_game" / "seed0", "asterix", 0, [(5, 3.0), (M + 5, 6.0)],
                 variant="dqn_old_game")  # a diagnostic run (another variant, e.g. seaquest_v1_0_10.sh's)
    report = Path(sys.executable).with_name("rlkit-report")
    proc = subprocess.run(["bash", "run_study.sh", "collect"], check=False, cwd=study, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "RLKIT_REPORT": str(report), "MPLCONFIGDIR": str(tmp_path),
                               "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "unfinished: runs/breakout/dqn/seed0" in proc.stdout
    assert not list(tmp_path.glob("rlkit-study.*"))  # the copy the script ran from (so edits cannot reach it) is gone
    kept = study / "results" / "asterix" / "dqn" / "seed0"
    assert sorted(p.name for p in kept.iterdir()) == [".hydra", "config.yaml", "metrics.jsonl.gz", "summary.json"]
    assert gzip.decompress((kept / "metrics.jsonl.gz").read_bytes()) == (done / "metrics.jsonl").read_bytes()
    md = (study / "report" / "report.md").read_text()
    assert "| asterix | dqn | 0 (0-1,000,000) | 1 | 4 | s0: 4 | 5.9 | 2.2 | 0.68 |" in md  # 4 / 5.9
    assert "dqn_old_game" not in md and not (study / "results" / "asterix" / "dqn_old_game").exists()
    assert (study / "diagnostics" / "results" / "asterix" / "dqn_old_game" / "seed0" / "metrics.jsonl.gz").is_file()
    diagnostics = (study / "diagnostics" / "report" / "report.md").read_text()  # beside the study's runs of its game
    assert "| asterix | dqn | 0 (0-1,000,000) | 1 | 4 | s0: 4 | 5.9 | 2.2 | 0.68 |" in diagnostics
    assert "| asterix | dqn_old_game | 0 (0-1,000,000) | 1 | 3 | s0: 3 | 5.9 | 2.2 | – |" in diagnostics
