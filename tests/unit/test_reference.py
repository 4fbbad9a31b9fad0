"""`rlkit-report --reference`: published Atari-100k results (DrQ(eps), SPR, DER) shipped and compared with a study."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from rlkit.analysis import stats
from rlkit.analysis.hns import human_normalized_score
from rlkit.analysis.reference import (
    ReferenceError,
    central_interval,
    der_verdict,
    parse_references,
    percentile_of_score,
    protocol_issues,
    published_means,
    published_runs,
    reference_games,
)
from rlkit.analysis.report import ReportOptions, write_report
from rlkit.analysis.runs import RunsError, load_run
from tests.helpers import run_cli
from tests.smoke.test_report import run_config, write_run

REPO = Path(__file__).resolve().parents[2]
# The 26 games of Atari 100k (Kaiser et al. 2020) as ale-py ids, as experiments/atari100k/README.md lists them.
ATARI100K = ["alien", "amidar", "assault", "asterix", "bank_heist", "battle_zone", "boxing", "breakout",
             "chopper_command", "crazy_climber", "demon_attack", "freeway", "frostbite", "gopher", "hero", "jamesbond",
             "kangaroo", "krull", "kung_fu_master", "ms_pacman", "pong", "private_eye", "qbert", "road_runner",
             "seaquest", "up_n_down"]
# A fake study: final scores per game, seeds 0, 1, 2. breakout seed 0 ties a published DrQ(eps) run (12.25).
FINAL = {"pong": [-10.0, 5.0, 20.0], "breakout": [12.25, 20.0, 3.0]}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _hns(game: str, scores) -> np.ndarray:
    return np.array([human_normalized_score(game, s) for s in scores])


def _atari_run(root: Path, game: str, seed: int, final: float, *, steps: int = 100_000) -> Path:
    """A finished `experiment=atari100k_der`-like run (100K steps, frame skip 4, no sticky actions) whose summary
    says it ran ``steps`` agent steps (fewer: it stopped early)."""
    config = run_config("der", "pong", seed)
    config["env"].update(game=game, id=game, sticky_action_prob=0.0, noop_max=30)
    config["train"]["steps"] = 100_000
    run_dir = write_run(root / game / f"seed{seed}", config, final)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "steps": steps, "frames": 4 * steps}))
    return run_dir


# ----------------------------------------------------------------------------- shipped data
def test_shipped_data_has_the_26_games_under_ale_ids_and_100_runs_each():
    for name in ("drq_eps", "spr"):
        runs = published_runs(name)
        assert sorted(runs) == ATARI100K == reference_games(name)
        assert {len(scores) for scores in runs.values()} == {100}
        assert not runs["pong"].flags.writeable  # cached: callers cannot change it
    assert sorted(published_means()) == ATARI100K == reference_games("der")
    # CamelCase names of the released data map to ale-py ids
    assert published_means()["kung_fu_master"] == {"der_2019": 14346.1, "der_rerun_100_runs": 6580.1}
    assert published_means()["up_n_down"] == {"der_2019": 2877.4, "der_rerun_100_runs": 3075.0}
    assert published_runs("drq_eps")["road_runner"].shape == (100,)
    data = resources.files("rlkit.analysis").joinpath("data", "atari100k")
    assert {"SOURCE.md", "drq_eps_runs.csv", "spr_runs.csv", "der_game_means.csv"} <= {p.name for p in data.iterdir()}
    line = next(x for x in (REPO / "pyproject.toml").read_text().splitlines() if x.startswith('"rlkit.analysis" ='))
    assert '"data/atari100k/*.csv"' in line and '"data/atari100k/*.md"' in line  # the wheel ships them


def test_shipped_data_reproduces_the_aggregates_in_source_md():
    for name, expected in (("drq_eps", {"iqm": 0.280, "median": 0.313, "mean": 0.465}),
                           ("spr", {"iqm": 0.337, "median": 0.396, "mean": 0.616})):
        matrix = np.column_stack([_hns(g, published_runs(name)[g]) for g in ATARI100K])  # [100, 26]
        est = stats.aggregate_intervals(matrix, reps=2000, rng=np.random.default_rng(0))
        for metric, value in expected.items():
            assert est[metric]["point"] == pytest.approx(value, abs=5e-4), (name, metric)
        if name == "drq_eps":  # SOURCE.md: IQM 0.280 [0.271, 0.289]; bootstrap noise of a few 0.001
            assert est["iqm"]["lower"] == pytest.approx(0.271, abs=0.003)
            assert est["iqm"]["upper"] == pytest.approx(0.289, abs=0.003)
    for column, median, mean in (("der_2019", 0.161, 0.285), ("der_rerun_100_runs", 0.189, 0.350)):
        means = np.array([[human_normalized_score(g, published_means()[g][column]) for g in ATARI100K]])
        assert float(stats.median_score(means)) == pytest.approx(median, abs=5e-4)
        assert float(stats.mean_score(means)) == pytest.approx(mean, abs=5e-4)


# ----------------------------------------------------------------------------- rules
def test_percentile_of_score_counts_runs_below_and_half_the_ties():
    distribution = [1.0, 2.0, 2.0, 3.0, 4.0]
    assert percentile_of_score(0.0, distribution) == 0.0
    assert percentile_of_score(2.0, distribution) == 40.0  # 1 below + 2 ties / 2, of 5
    assert percentile_of_score(2.5, distribution) == 60.0
    assert percentile_of_score(4.0, distribution) == 90.0
    assert percentile_of_score(9.0, distribution) == 100.0
    assert central_interval(np.arange(101.0)) == {"p5": 5.0, "median": 50.0, "p95": 95.0}
    assert central_interval([0.0, 10.0]) == {"p5": 0.5, "median": 5.0, "p95": 9.5}
    with pytest.raises(ValueError):
        percentile_of_score(1.0, [])


def test_der_verdict_uses_the_span_of_the_two_means_widened_by_two_standard_errors():
    assert der_verdict(5.0, 1.0, [6.0, 4.0])["verdict"] == "within"
    near = der_verdict(7.5, 1.0, [4.0, 6.0])
    assert near["verdict"] == "near" and (near["widened_low"], near["widened_high"]) == (2.0, 8.0)
    assert der_verdict(8.5, 1.0, [4.0, 6.0])["verdict"] == "above"
    assert der_verdict(3.5, None, [4.0, 6.0])["verdict"] == "below"  # one run: no standard error, no widening


def test_protocol_issues_read_steps_frames_and_sticky_actions(tmp_path):
    run = load_run(_atari_run(tmp_path, "pong", 0, 0.0))
    assert protocol_issues(run) == []
    run.summary.pop("frames")
    run.config["env"]["frame_skip"] = 2  # frames = steps x frame skip when the summary lacks them
    run.config["env"]["sticky_action_prob"] = 0.25
    assert protocol_issues(run) == ["100,000 agent steps = 200,000 frames, not 100,000 = 400,000",
                                    "sticky actions (p = 0.25); the published runs used none"]
    run.summary.pop("steps")  # falls back to the config's train.steps
    run.config["train"]["steps"] = 50_000
    assert protocol_issues(run)[0] == "50,000 agent steps = 100,000 frames, not 100,000 = 400,000"


def test_reference_names_repeat_or_comma_separate_and_unknown_ones_list_the_valid_names():
    assert parse_references(["drq_eps", "der, spr", "drq_eps"]) == ("drq_eps", "der", "spr")
    with pytest.raises(ReferenceError, match="unknown reference 'dqn'; valid names: der, drq_eps, revisiting_rainbow, spr"):
        parse_references(["spr,dqn"])
    with pytest.raises(RunsError, match="valid names: der, drq_eps, revisiting_rainbow, spr"):
        ReportOptions(references=("SPR",)).check()


# ----------------------------------------------------------------------------- a study
@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict, str]:
    root = tmp_path_factory.mktemp("atari100k")
    for game, finals in FINAL.items():
        for seed, final in enumerate(finals):
            _atari_run(root, game, seed, final, steps=3_000 if (game, seed) == ("pong", 2) else 100_000)
    _atari_run(root, "tennis", 0, -5.0)  # an Atari-57 game outside Atari 100k
    proc = run_cli("rlkit-report", [str(root), "--reference", "drq_eps", "--reference", "der", "--reps", "200"],
                   cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = root / "report"
    return out, json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_study_percentiles_against_drq_eps(study):
    out, report, _ = study
    rows = [r for r in _rows(out / "reference_games.csv") if r["reference"] == "drq_eps"]
    assert {(r["game"], int(r["seed"])) for r in rows} == {(g, s) for g in FINAL for s in range(3)}
    got = {(r["game"], int(r["seed"])): (float(r["percentile"]), r["inside_central_90"]) for r in rows}
    # hand-checked against drq_eps_runs.csv: Breakout 12.25 ties one run with 4 below -> 4.5
    assert got == {("pong", 0): (56.0, "1"), ("pong", 1): (89.0, "1"), ("pong", 2): (100.0, "0"),
                   ("breakout", 0): (4.5, "0"), ("breakout", 1): (80.0, "1"), ("breakout", 2): (0.0, "0")}
    pong = next(r for r in rows if r["game"] == "pong")
    expected = np.percentile(published_runs("drq_eps")["pong"], [5, 50, 95])
    np.testing.assert_allclose([float(pong[k]) for k in ("published_p5", "published_median", "published_p95")],
                               expected)
    section = report["reference"]["per_reference"]["drq_eps"]
    assert section["games"] == ["breakout", "pong"]
    assert section["summary"] == {"der": {"runs": 6, "inside_central_90": 3, "median_percentile": 68.0}}


def test_study_der_means_and_aggregates(study):
    out, _, _ = study
    der = {r["game"]: r for r in _rows(out / "reference_games.csv") if r["reference"] == "der"}
    assert set(der) == set(FINAL)
    breakout = der["breakout"]  # mean 35.25 / 3 = 11.75, SE 4.99; published 1.9 and 9.2: within 2 SE of the span
    assert float(breakout["score"]) == pytest.approx(np.mean(FINAL["breakout"]))
    assert float(breakout["score_se"]) == pytest.approx(np.std(FINAL["breakout"], ddof=1) / np.sqrt(3))
    assert (breakout["der_2019"], breakout["der_rerun_100_runs"], breakout["der_verdict"]) == ("1.9", "9.2", "near")
    # pong: mean 5, SE 8.66, above both means (-19.3, -9.7) but within 2 SE of them: 5 - 17.32 <= -9.7
    assert (der["pong"]["score"], der["pong"]["der_verdict"]) == ("5.0", "near")

    aggs = {(r["reference"], r["source"], r["variant"], r["metric"]): r for r in _rows(out / "reference_aggregates.csv")}
    games = ["breakout", "pong"]
    published = np.column_stack([_hns(g, published_runs("drq_eps")[g]) for g in games])
    ours = np.column_stack([_hns(g, FINAL[g]) for g in games])
    assert float(aggs[("drq_eps", "published", "DrQ(ε)", "iqm")]["point"]) == pytest.approx(float(stats.iqm(published)))
    assert float(aggs[("drq_eps", "rlkit", "der", "mean")]["point"]) == pytest.approx(float(stats.mean_score(ours)))
    assert aggs[("drq_eps", "published", "DrQ(ε)", "iqm")]["runs_per_game"] == "100"
    der_2019 = np.array([[human_normalized_score(g, published_means()[g]["der_2019"]) for g in games]])
    row = aggs[("der", "published", "DER (van Hasselt et al. 2019)", "median")]
    assert float(row["point"]) == pytest.approx(float(stats.median_score(der_2019))) and row["lower"] == ""
    assert aggs[("der", "published", "DER (van Hasselt et al. 2019)", "iqm")]["point"] == ""  # means only: no IQM
    assert all(r["n_games"] == "2" for r in aggs.values())


def test_study_report_says_what_was_left_out_warns_off_protocol_runs_and_plots(study):
    out, report, md = study
    section = report["reference"]["per_reference"]["drq_eps"]
    assert section["left_out"] == [{"task": "tennis", "runs": 1, "reason": "not one of the 26 Atari-100k games of DrQ(ε)"}]
    assert report["reference"]["protocol"] == [{
        "variant": "der", "game": "pong", "seed": 2, "path": str((out.parent / "pong" / "seed2").resolve()),
        "issues": ["3,000 agent steps = 12,000 frames, not 100,000 = 400,000"]}]
    part = md.split("## Published reference")[1]
    assert "**Warning: not the Atari-100k protocol.** 1 run(s): 3,000 agent steps = 12,000 frames" in part
    assert "Left out: tennis (1 run(s)): not one of the 26 Atari-100k games of DrQ(ε)" in part
    assert "ties counted half" in part and "widened by 2 standard errors" in part and "point estimates" in part
    assert "| pong | der | -10 (p56 ✓), 5 (p89 ✓), 20 (p100 ✗) |" in part
    for name in ("drq_eps", "der"):
        png = out / f"reference_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.with_suffix(".svg").stat().st_size > 0
        assert f"]({png.name})" in part and report["files"][f"reference/{name}"] == png.name


def test_unknown_reference_exits_2_listing_valid_names(tmp_path):
    proc = run_cli("rlkit-report", [str(tmp_path), "--reference", "drq_eps,rainbow"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "unknown reference 'rainbow'; valid names: der, drq_eps, revisiting_rainbow, spr" in proc.stderr


def test_study_without_atari100k_games_says_so(tmp_path):
    for seed, final in enumerate([400.0, 450.0]):
        write_run(tmp_path / "runs" / f"seed{seed}", run_config("dqn", "CartPole-v1", seed), final)
    report = write_report([tmp_path / "runs"], tmp_path / "out", ReportOptions(reps=20, references=("spr",)))
    section = report["reference"]["per_reference"]["spr"]
    assert section["games"] == [] and section["per_game"] == []
    assert section["left_out"] == [{"task": "CartPole-v1", "runs": 2, "reason": "not an Atari game"}]
    assert "reference/spr" not in report["files"] and not (tmp_path / "out" / "reference_spr.png").exists()
    assert "No game of this study is in this reference" in (tmp_path / "out" / "report.md").read_text()
    assert len(_rows(tmp_path / "out" / "reference_games.csv")) == 0
