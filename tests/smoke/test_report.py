"""`rlkit-report` end to end on realistic run directories: numbers checked against values computed here."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from tests.helpers import run_cli

PONG_RANDOM, PONG_HUMAN = -20.7, 14.6  # Atari-57 reference scores (rlkit/analysis/data)
STEPS = 3000
# Final evaluation returns per (variant, task) for seeds 0, 1, 2; seed 1 ties across variants on both tasks.
FINAL = {
    ("full", "pong"): [-5.0, 3.0, 10.0],
    ("no_double", "pong"): [-12.0, 3.0, -20.0],
    ("full", "CartPole-v1"): [500.0, 480.0, 350.0],
    ("no_double", "CartPole-v1"): [200.0, 480.0, 500.0],
}
TARGET = {"full": "double", "no_double": "plain"}


def _curve(final: float, seed: int) -> dict[int, float]:
    """Periodic eval returns at 1000 and 2000 steps and the final one at STEPS (logged twice there, like the loop)."""
    return {1000: final - 30.0 - seed, 2000: final + 5.0 * (seed - 1), STEPS: final}


def run_config(variant: str, task: str, seed: int) -> dict:
    if task == "pong":
        env = {"name": "atari", "game": "pong", "id": "pong", "frame_skip": 4, "sticky_action_prob": 0.25}
        torso, steps = "nature_cnn", STEPS
    else:
        env = {"name": "gym", "id": task, "num_envs": 1, "frame_skip": 1}
        torso, steps = "mlp", STEPS
    return {
        "seed": seed, "device": "cpu", "torch_threads": 1, "run_name": f"{env['id']}_rainbow_s{seed}",
        "experiment_name": "rainbow_ablation", "variant": variant, "imports": [],
        "train": {"steps": steps, "learning_starts_steps": 100},
        "eval": {"every_steps": 1000, "episodes": 5},
        "target": {"name": TARGET.get(variant, "double")},
        "network": {"torso": {"name": torso}, "head": {"name": "dueling_c51"}, "hidden_sizes": [512]},
        "env": env,
        "logger": {"jsonl": {"name": "jsonl", "enabled": True},
                   "wandb": {"name": "wandb", "enabled": True, "tags": [env["id"], f"seed{seed}"]}},
    }


def write_run(run_dir: Path, config: dict, final: float, *, curve: dict[int, float] | None = None,
              finished: bool = True) -> Path:
    """A run directory as rlkit-train leaves it: config.yaml, metrics.jsonl, summary.json, .hydra/."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    game = config["env"].get("game")
    hns = (lambda s: (s - PONG_RANDOM) / (PONG_HUMAN - PONG_RANDOM)) if game else (lambda s: None)
    curve = curve if curve is not None else _curve(final, config["seed"])
    lines = [{"step": 500, "time": 1.0, "charts/episodic_return": 1.0, "charts/SPS": 100.0, "eval/episodic_return": None}]
    for step, value in sorted(curve.items()):
        record = {"step": step, "time": step / 100, "eval/episodic_return": value, "eval/episodic_return_std": 1.0}
        if game:
            record["eval/hns"] = hns(value)
        lines.append(record)
    if finished:
        final_record = {"step": STEPS, "time": 31.0, "eval/episodic_return": final, "final/episodic_return": final}
        if game:
            final_record.update({"eval/hns": hns(final), "final/hns": hns(final)})
        lines.append(final_record)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if finished:
        summary = {"eval/episodic_return": final, "eval/hns": hns(final), "final_eval_returns": [final] * 5,
                   "best_eval_return": max([final, *curve.values()]), "steps": STEPS, "seed": config["seed"],
                   "env": config["env"]["id"], "run_name": config["run_name"]}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def make_sweep(root: Path) -> Path:
    """2 variants x 2 tasks x 3 seeds at <sweep>/<experiment>/<env.id>/<variant>/seed<N>/, plus multirun.yaml."""
    for (variant, task), finals in FINAL.items():
        for seed, final in enumerate(finals):
            config = run_config(variant, task, seed)
            curve = _curve(final, seed)
            if (variant, task, seed) == ("full", "CartPole-v1", 2):
                curve[1500] = 123.0  # an eval step the other seeds lack: curves align on shared steps
            write_run(root / "rainbow_ablation" / config["env"]["id"] / variant / f"seed{seed}", config, final,
                      curve=curve)
    (root / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"overrides": {"task": ["experiment=glob(ablation_*)", "seed=0,1,2"]}}}))
    return root


def _hns(score: float) -> float:
    return (score - PONG_RANDOM) / (PONG_HUMAN - PONG_RANDOM)


def _p_greater(x: list[float], y: list[float]) -> float:
    return sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (len(x) * len(y))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    root = make_sweep(tmp_path_factory.mktemp("sweep"))
    write_run(root / "rainbow_ablation" / "CartPole-v1" / "full" / "seed3", run_config("full", "CartPole-v1", 3), 0.0,
              finished=False)
    proc = run_cli("rlkit-report", [str(root), "--reps", "300", "--seed", "7"], cwd=root, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = root / "report"
    return root, out, json.loads((out / "report.json").read_text()), proc


def test_report_tables_match_hand_computed_scores(sweep_report):
    _, out, report, _ = sweep_report
    assert report["baseline"] == "full" and "named `full`" in report["baseline_reason"]
    assert report["grouping"]["keys"] == ["variant"]
    assert report["variants"] == {"full": {"runs": 6}, "no_double": {"runs": 6}}
    rows = {(r["task"], r["variant"]): r for r in _read_csv(out / "scores.csv")}
    assert len(rows) == 4
    for (variant, task), finals in FINAL.items():
        row = rows[(task, variant)]
        assert int(row["n_seeds"]) == 3
        assert float(row["score_mean"]) == pytest.approx(np.mean(finals), abs=1e-9)
        assert float(row["score_std"]) == pytest.approx(np.std(finals, ddof=1), abs=1e-9)
        if task == "pong":
            hns = [_hns(s) for s in finals]
            assert float(row["hns_mean"]) == pytest.approx(np.mean(hns), abs=1e-9)
            assert float(row["hns_std"]) == pytest.approx(np.std(hns, ddof=1), abs=1e-9)
        else:
            assert row["hns_mean"] == "" and row["hns_std"] == ""
    per_run = _read_csv(out / "runs.csv")
    assert len(per_run) == 12 and {int(r["seed"]) for r in per_run} == {0, 1, 2}


def test_report_aggregates_and_improvement_match_hand_computed(sweep_report):
    _, out, report, _ = sweep_report
    assert set(report["suites"]) == {"atari_hns", "CartPole-v1"}
    atari, cartpole = report["suites"]["atari_hns"], report["suites"]["CartPole-v1"]
    assert atari["kind"] == "hns" and atari["gap_threshold"] == 1.0 and atari["tasks"] == ["pong"]
    assert cartpole["kind"] == "raw" and cartpole["gap_threshold"] == 475.0
    assert "reward_threshold" in cartpole["gap_threshold_source"]
    aggregates = {(r["suite"], r["variant"], r["metric"]): r for r in _read_csv(out / "aggregates.csv")}
    assert len(aggregates) == 2 * 2 * 4
    for variant in ("full", "no_double"):
        hns = np.array([_hns(s) for s in FINAL[(variant, "pong")]])
        raw = np.array(FINAL[(variant, "CartPole-v1")])
        expected = {
            ("atari_hns", "mean"): hns.mean(), ("atari_hns", "median"): hns.mean(),
            ("atari_hns", "iqm"): hns.mean(),  # 3 scores: floor(3/4) = 0 trimmed
            ("atari_hns", "optimality_gap"): np.maximum(1.0 - hns, 0).mean(),
            ("CartPole-v1", "mean"): raw.mean(), ("CartPole-v1", "iqm"): raw.mean(),
            ("CartPole-v1", "optimality_gap"): np.maximum(475.0 - raw, 0).mean(),
        }
        for (suite, metric), value in expected.items():
            row = aggregates[(suite, variant, metric)]
            assert float(row["point"]) == pytest.approx(value, abs=1e-9), (suite, variant, metric)
            assert float(row["lower"]) <= float(row["point"]) + 1e-12 <= float(row["upper"]) + 2e-12
            assert report["suites"][suite]["aggregates"][variant][metric]["point"] == pytest.approx(value, abs=1e-9)
        assert aggregates[("atari_hns", variant, "optimality_gap")]["gap_threshold"] == "1.0"
    # bootstrap bounds of the mean lie within the range of the resampled scores
    cp = aggregates[("CartPole-v1", "full", "mean")]
    assert 350.0 <= float(cp["lower"]) < float(cp["upper"]) <= 500.0

    poi = {(r["suite"], r["variant"]): r for r in _read_csv(out / "probability_of_improvement.csv")}
    assert set(poi) == {("atari_hns", "no_double"), ("CartPole-v1", "no_double")}
    assert float(poi[("atari_hns", "no_double")]["point"]) == pytest.approx(1 / 6)
    assert float(poi[("CartPole-v1", "no_double")]["point"]) == pytest.approx(4 / 9)
    for task, suite in (("pong", "atari_hns"), ("CartPole-v1", "CartPole-v1")):
        expected = _p_greater(FINAL[("no_double", task)], FINAL[("full", task)])
        assert float(poi[(suite, "no_double")]["point"]) == pytest.approx(expected)
        assert poi[(suite, "no_double")]["baseline"] == "full"
        est = report["suites"][suite]["probability_of_improvement"]["no_double"]
        assert 0.0 <= est["lower"] <= est["point"] <= est["upper"] <= 1.0


def test_report_profiles_and_learning_curves(sweep_report):
    _, _, report, _ = sweep_report
    profile = report["suites"]["CartPole-v1"]["performance_profile"]
    taus = np.array(profile["taus"])
    for variant in ("full", "no_double"):
        expected = (np.array(FINAL[(variant, "CartPole-v1")])[:, None] > taus).mean(axis=0)
        np.testing.assert_allclose(profile["variants"][variant]["profile"], expected)
    assert profile["variants"]["full"]["profile"][0] == 1.0 and profile["variants"]["full"]["profile"][-1] == 0.0

    curve = report["learning_curves"]["CartPole-v1"]["full"]
    assert curve["steps"] == [1000, 2000, STEPS] and curve["runs"] == 3  # 1500 is not shared by all seeds
    finals = FINAL[("full", "CartPole-v1")]
    expected = [np.mean([_curve(f, s)[step] for s, f in enumerate(finals)]) for step in (1000, 2000, STEPS)]
    np.testing.assert_allclose(curve["mean"], expected)
    assert all(lo <= m <= hi for lo, m, hi in zip(curve["lower"], curve["mean"], curve["upper"]))


def test_report_writes_plots_and_markdown_linking_them(sweep_report):
    _, out, report, proc = sweep_report
    pngs = ["learning_curves.png", "aggregates_atari_hns.png", "aggregates_CartPole-v1.png",
            "performance_profile_atari_hns.png", "performance_profile_CartPole-v1.png",
            "probability_of_improvement_atari_hns.png", "probability_of_improvement_CartPole-v1.png"]
    md = (out / "report.md").read_text()
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name})" in md, name
        # readable: every panel at least 5 x 3.5 in at 150 dpi; the 4 aggregates in 2 x 2 panels, 2 tasks side by side
        height, width = imread(out / name).shape[:2]
        panels = (2, 2) if name.startswith("aggregates") else (2, 1) if name == "learning_curves.png" else (1, 1)
        assert width >= 750 * panels[0] and height >= 525 * panels[1], (name, width, height)
        svg = (out / name).with_suffix(".svg")
        assert ElementTree.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg", name
        assert f"]({svg.name})" in md, name
    for name in ("scores.csv", "aggregates.csv", "probability_of_improvement.csv", "report.json", "runs.csv"):
        assert (out / name).stat().st_size > 0
    assert "Baseline**: `full`" in md and "Optimality gap threshold: 475" in md and "| pong | full | 3 ⚠ |" in md
    assert "experiment=glob(ablation_*) seed=0,1,2" in md
    # the unfinished run is skipped, with a warning and a line in the report
    assert "seed3" in proc.stderr and "unfinished" in proc.stderr
    assert len(report["skipped_runs"]) == 1 and "seed3" in report["skipped_runs"][0]["path"]
    assert "seed3" in md


def test_report_is_deterministic_given_seed(sweep_report, tmp_path):
    from rlkit.analysis.report import HNS_SUITE, ReportOptions, suite_estimates, write_report
    from rlkit.analysis.report_estimates import score_suites as _suites
    from rlkit.analysis.runs import load_runs

    root, out, report, _ = sweep_report
    again = write_report([root], tmp_path / "again", ReportOptions(reps=300, seed=7))  # as the CLI run in the fixture
    for key in ("suites", "learning_curves", "scores"):
        assert json.loads(json.dumps(again[key])) == report[key], key
    assert (tmp_path / "again" / "aggregates.csv").read_text() == (out / "aggregates.csv").read_text()
    suite = _suites(load_runs([root]).runs, None)[HNS_SUITE]
    other = suite_estimates(HNS_SUITE, suite, "full", ReportOptions(reps=300, seed=8))
    assert other["aggregates"]["full"]["iqm"]["point"] == report["suites"][HNS_SUITE]["aggregates"]["full"]["iqm"]["point"]
    assert other["aggregates"] != report["suites"][HNS_SUITE]["aggregates"]  # another seed, other resamples


def test_metric_best_and_baseline_and_gap_threshold_flags(tmp_path):
    root = make_sweep(tmp_path / "sweep")
    out = tmp_path / "out"
    proc = run_cli("rlkit-report", [str(root), "--out", str(out), "--reps", "20", "--metric", "best",
                                    "--baseline", "no_double", "--gap-threshold", "400"], cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["baseline"] == "no_double" and report["baseline_reason"] == "chosen with --baseline"
    best = {}
    for (variant, task), finals in FINAL.items():
        curves = [_curve(f, s) for s, f in enumerate(finals)]
        if (variant, task) == ("full", "CartPole-v1"):
            curves[2][1500] = 123.0
        best[(variant, task)] = [max(c.values()) for c in curves]
    rows = {(r["task"], r["variant"]): float(r["score_mean"]) for r in _read_csv(out / "scores.csv")}
    for (variant, task), scores in best.items():
        assert rows[(task, variant)] == pytest.approx(np.mean(scores))
    cartpole = report["suites"]["CartPole-v1"]
    assert cartpole["gap_threshold"] == 400.0 and cartpole["gap_threshold_source"] == "--gap-threshold"
    gap = cartpole["aggregates"]["full"]["optimality_gap"]["point"]
    assert gap == pytest.approx(np.maximum(400.0 - np.array(best[("full", "CartPole-v1")]), 0).mean())
    poi = report["suites"]["CartPole-v1"]["probability_of_improvement"]
    assert set(poi) == {"full"}
    assert poi["full"]["point"] == pytest.approx(_p_greater(best[("full", "CartPole-v1")],
                                                            best[("no_double", "CartPole-v1")]))


def test_errors_no_runs_unknown_baseline_missing_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_run(empty / "run0", run_config("full", "CartPole-v1", 0), 10.0, finished=False)
    proc = run_cli("rlkit-report", [str(empty)], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "no finished runs found" in proc.stderr and "summary.json" in proc.stderr and "Traceback" not in proc.stderr

    root = make_sweep(tmp_path / "sweep")
    proc = run_cli("rlkit-report", [str(root), "--baseline", "nope", "--reps", "10"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "unknown --baseline 'nope'" in proc.stderr and "full, no_double" in proc.stderr

    proc = run_cli("rlkit-report", [str(tmp_path / "missing")], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr

    proc = run_cli("rlkit-report", [str(root), "--reps", "0"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "--reps must be a positive integer" in proc.stderr


def test_grouping_by_differing_config_keys(tmp_path):
    """Runs sharing `variant`: named by the keys that differ within a task (env, seed, logger keys ignored)."""
    from rlkit.analysis.runs import load_runs

    for task in ("pong", "CartPole-v1"):
        for target in ("double", "plain"):
            for seed in (0, 1):
                config = run_config("rainbow", task, seed)
                config["target"]["name"] = target
                config["logger"]["jsonl"]["dir"] = str(tmp_path / f"x{seed}")  # a path: never a variant key
                write_run(tmp_path / "runs" / f"{task}_{target}_{seed}", config, 1.0)
    loaded = load_runs([tmp_path / "runs"])
    assert loaded.grouping.keys == ["target.name"]
    assert sorted({r.variant for r in loaded.runs}) == ["target.name=double", "target.name=plain"]
    assert {r.task for r in loaded.runs} == {"pong", "CartPole-v1"} and len(loaded.runs) == 8

    # one configuration (up to seed): one variant, named by `variant`
    for seed in (0, 1):
        write_run(tmp_path / "same" / f"s{seed}", run_config("rainbow", "CartPole-v1", seed), 1.0)
    same = load_runs([tmp_path / "same"])
    assert same.grouping.keys == [] and {r.variant for r in same.runs} == {"rainbow"}

    # two experiments: variants are prefixed with the experiment name
    for exp in ("exp_a", "exp_b"):
        config = run_config("full", "CartPole-v1", 0)
        config["experiment_name"] = exp
        write_run(tmp_path / "exps" / exp, config, 1.0)
    exps = load_runs([tmp_path / "exps"])
    assert sorted(r.variant for r in exps.runs) == ["exp_a/full", "exp_b/full"]
