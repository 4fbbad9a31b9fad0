"""The Rainbow leave-one-out grid: each file removes one ingredient and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import QUIET, compose, read_jsonl, run_cli, train_in_process

CONF = Path(__file__).resolve().parents[2] / "conf"
GRID = sorted(p.stem for p in (CONF / "experiment").glob("ablation_*.yaml"))
IQN_GRID = sorted(p.stem for p in (CONF / "experiment").glob("iqn_ablation_*.yaml"))
INGREDIENTS = {
    "target.name", "network.head.name", "network.head.output.name", "network.layer.name", "exploration.name",
    "replay.sampler.name", "agent.n_step", "loss.name",
}


def _ingredients(cfg) -> dict:
    return {key: OmegaConf.select(cfg, key) for key in INGREDIENTS}


def test_grid_is_the_rainbow_leave_one_out_set():
    assert GRID == ["ablation_full", "ablation_no_distributional", "ablation_no_double", "ablation_no_dueling",
                    "ablation_no_n_step", "ablation_no_noisy", "ablation_no_prioritized"]


def test_iqn_grid_is_the_same_leave_one_out_set_with_iqn():
    assert [name.removeprefix("iqn_") for name in IQN_GRID] == GRID
    full = compose("experiment=iqn_ablation_full")
    assert (full.network.head.name, full.network.head.output.name, full.loss.name) == (
        "dueling", "implicit_quantile", "quantile_huber")


@pytest.mark.parametrize("experiment", IQN_GRID)
def test_each_iqn_variant_changes_only_its_ingredient(experiment):
    full = _ingredients(compose("experiment=iqn_ablation_full"))
    cfg = compose(f"experiment={experiment}")
    changed = {k for k, v in _ingredients(cfg).items() if full[k] != v}
    variant = experiment.removeprefix("iqn_ablation_")
    expected = {
        "full": set(), "no_double": {"target.name"}, "no_dueling": {"network.head.name"},
        "no_noisy": {"network.layer.name", "exploration.name"}, "no_prioritized": {"replay.sampler.name"},
        "no_n_step": {"agent.n_step"}, "no_distributional": {"network.head.output.name", "loss.name"},
    }[variant]
    assert changed == expected
    assert cfg.experiment_name == "rainbow_iqn_ablation" and cfg.variant == variant
    if variant == "no_distributional":  # the same run as the C51 grid's
        assert _ingredients(cfg) == _ingredients(compose("experiment=ablation_no_distributional"))


@pytest.mark.parametrize("experiment", GRID)
def test_each_variant_changes_only_its_ingredient(experiment):
    full = _ingredients(compose("experiment=ablation_full"))
    cfg = compose(f"experiment={experiment}")
    changed = {k for k, v in _ingredients(cfg).items() if full[k] != v}
    expected = {
        "ablation_full": set(),
        "ablation_no_double": {"target.name"},
        "ablation_no_dueling": {"network.head.name"},
        "ablation_no_noisy": {"network.layer.name", "exploration.name"},
        "ablation_no_prioritized": {"replay.sampler.name"},
        "ablation_no_n_step": {"agent.n_step"},
        "ablation_no_distributional": {"network.head.output.name", "loss.name"},
    }[experiment]
    assert changed == expected
    assert cfg.experiment_name == "rainbow_ablation" and cfg.variant == experiment.removeprefix("ablation_")
    # the rest of the run (schedule, optimiser, sizes) is Rainbow's CartPole tuning in every variant
    assert cfg.optim == compose("experiment=ablation_full").optim and cfg.train.steps == 50_000


@pytest.mark.parametrize("experiment", GRID)
def test_each_variant_trains_a_few_steps(tmp_path, experiment):
    summary = train_in_process(tmp_path, f"experiment={experiment}", "train.steps=300",
                               "train.learning_starts_steps=100", "train.log_every_steps=100", "eval.every_steps=0",
                               "eval.episodes=1")
    assert summary["updates"] > 0
    assert any("losses/td_loss" in row for row in read_jsonl(tmp_path / "metrics.jsonl"))


def test_grid_runs_as_one_multirun_with_named_run_dirs(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "experiment=glob(ablation_*)", "seed=0", f"hydra.sweep.dir={sweep}", "train.steps=200",
            "train.learning_starts_steps=100", "eval.every_steps=0", "eval.episodes=1", "torch_threads=1", *QUIET]
    proc = run_cli("rlkit-train", args, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.rglob("summary.json"))
    names = {str(p.relative_to(sweep)) for p in runs}
    assert names == {f"rainbow_ablation/CartPole-v1/{e.removeprefix('ablation_')}/seed0" for e in GRID}
    for run in runs:
        assert json.loads((run / "summary.json").read_text())["steps"] == 200
