"""Sweep runs in wandb: group = experiment, job_type = variant, tags = game/env and seed, the resolved
config, offline unless asked otherwise."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from rlkit.logging.wandb_logger import WandbLogger
from tests.helpers import QUIET, compose, run_cli, train_in_process


@pytest.mark.parametrize(("overrides", "group", "job_type", "tags"), [
    (["experiment=ablation_no_noisy", "seed=2"], "rainbow_ablation", "no_noisy", ["CartPole-v1", "seed2"]),
    (["experiment=ablation_full", "seed=0", "+study=cartpole"], "cartpole_ablation", "full", ["CartPole-v1", "seed0"]),
    (["experiment=atari100k_der", "env.game=breakout", "seed=4"], "atari100k", "der", ["breakout", "seed4"]),
    (["env=atari", "env.game=ms_pacman", "agent=dqn", "seed=1"], "default", "dqn", ["ms_pacman", "seed1"]),
])
def test_sweep_identity_of_a_run(overrides, group, job_type, tags):
    wandb_cfg = compose(*overrides).logger.wandb
    assert (wandb_cfg.group, wandb_cfg.job_type, list(wandb_cfg.tags)) == (group, job_type, tags)


def test_wandb_is_offline_by_default_and_follows_wandb_mode(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert compose().logger.wandb.mode == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")  # what the test suite and the Docker image may set
    assert compose().logger.wandb.mode == "disabled"
    assert compose("logger.wandb.mode=online").logger.wandb.mode == "online"


def test_wandb_is_never_online_by_default():
    assert compose().logger.wandb.mode in {"offline", "disabled"}
    assert compose("logger.wandb.enabled=true").logger.wandb.mode != "online"
    assert inspect.signature(WandbLogger).parameters["mode"].default == "offline"


class _FakeConfig:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def update(self, values: dict[str, Any], allow_val_change: bool = False) -> None:
        self.values.update(values)


class _FakeRun:
    """Records what the logger hands to wandb (no wandb process, no files)."""

    def __init__(self, **init_kwargs: Any) -> None:
        self.init_kwargs = init_kwargs
        self.config = _FakeConfig()
        self.logged: list[dict[str, float]] = []
        self.finished = False
        self.exit_code: int | None = None

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, payload: dict[str, float]) -> None:
        self.logged.append(payload)

    def finish(self, exit_code: int | None = None) -> None:
        self.finished = True
        self.exit_code = exit_code


def test_a_training_run_sends_identity_and_resolved_config_to_wandb(tmp_path, monkeypatch):
    import wandb

    runs: list[_FakeRun] = []

    def fake_init(**kwargs: Any) -> _FakeRun:
        runs.append(_FakeRun(**kwargs))
        return runs[-1]

    monkeypatch.setattr(wandb, "init", fake_init)
    train_in_process(tmp_path, "experiment=ablation_no_noisy", "seed=2", "logger.wandb.enabled=true",
                     "logger.wandb.mode=offline", "train.steps=300", "train.learning_starts_steps=100",
                     "train.log_every_steps=100", "eval.every_steps=0", "eval.episodes=1")
    assert len(runs) == 1
    run = runs[0]
    kwargs = run.init_kwargs
    assert kwargs["mode"] == "offline" and kwargs["dir"] == str(tmp_path)
    assert (kwargs["group"], kwargs["job_type"], kwargs["tags"]) == ("rainbow_ablation", "no_noisy",
                                                                      ["CartPole-v1", "seed2"])
    assert kwargs["name"] == "CartPole-v1_rainbow_s2"
    resolved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert run.config.values == resolved  # the whole resolved config, not the interpolations
    assert run.config.values["network"]["layer"]["name"] == "linear" and "${" not in repr(run.config.values)
    assert any("eval/episodic_return" in row and row["global_step"] == 300 for row in run.logged)
    assert run.finished and run.exit_code == 0


def test_a_failed_run_is_marked_failed_in_wandb(tmp_path, monkeypatch):
    import wandb

    import rlkit.training.evaluator as evaluator_mod

    runs: list[_FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kwargs: runs.append(_FakeRun(**kwargs)) or runs[-1])

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(evaluator_mod, "evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        train_in_process(tmp_path, "logger.wandb.enabled=true", "logger.wandb.mode=offline", "train.steps=300",
                         "train.learning_starts_steps=100", "eval.every_steps=200", "eval.episodes=1")
    assert len(runs) == 1 and runs[0].finished and runs[0].exit_code == 1


def test_an_offline_sweep_writes_one_wandb_run_per_run_dir(tmp_path):
    sweep = tmp_path / "sweep"
    quiet = [q for q in QUIET if not q.startswith("logger.wandb")]
    args = ["-m", "experiment=ablation_full,ablation_no_double", "seed=1", f"hydra.sweep.dir={sweep}",
            "logger.wandb.mode=offline", "train.steps=200", "train.learning_starts_steps=100", "eval.every_steps=0",
            "eval.episodes=1", "torch_threads=1", *quiet]
    proc = run_cli("rlkit-train", args, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for variant in ("full", "no_double"):
        run_dir = sweep / "rainbow_ablation" / "CartPole-v1" / variant / "seed1"
        files = list(Path(run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
        assert len(files) == 1, run_dir
        # the run record (protobuf) stores group, job type and tags as plain strings
        record = files[0].read_bytes()
        for text in ("rainbow_ablation", variant, "CartPole-v1", "seed1"):
            assert text.encode() in record, (variant, text)
