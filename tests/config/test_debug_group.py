"""debug=tiny: a seconds-long smoke run of any preset on any env, composed after tuning and experiment."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlkit.validation import validate_config
from tests.helpers import QUIET, compose, read_jsonl, run_cli, train_in_process

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = OmegaConf.load(CONF / "debug" / "tiny.yaml")
RUN_FILES = ["config.yaml", "metrics.jsonl", "summary.json", "model.pt"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _leaves(node, prefix=""):
    for key, value in node.items():
        if OmegaConf.is_dict(value):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("overrides", [["agent=rainbow"], ["experiment=atari100k_der"], ["experiment=rainbow_atari"],
                                       ["experiment=minatar_dqn"], ["env=acrobot", "agent=dqn"]],
                         ids=lambda o: " ".join(o))
def test_tiny_wins_over_preset_tuning_and_experiment(overrides):
    cfg = compose(*overrides, "debug=tiny")
    for key, value in _leaves(TINY):
        assert OmegaConf.select(cfg, key) == value, key
    assert compose(*overrides, "debug=tiny", "train.steps=700").train.steps == 700  # the command line still wins


@pytest.mark.parametrize("agent", _options("agent"))
@pytest.mark.parametrize("env", _options("env"))
def test_tiny_is_a_valid_run_of_every_preset_on_every_env(env, agent, tmp_path):
    assert validate_config(compose(f"env={env}", f"agent={agent}", "debug=tiny"), tmp_path / "run") == []


@pytest.mark.parametrize("agent", _options("agent"))
def test_every_preset_finishes_a_tiny_run_and_writes_its_files(agent, tmp_path):
    started = time.monotonic()
    summary = train_in_process(tmp_path, f"agent={agent}", "debug=tiny")
    assert time.monotonic() - started < 60
    assert summary["steps"] == 500 and summary["final_eval"]["episodes"] == 1
    for name in RUN_FILES:
        assert (tmp_path / name).is_file(), name
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert any("eval/episodic_return" in r for r in rows) and any(r.get("charts/updates") for r in rows)


@pytest.mark.parametrize("env", ["acrobot", "minatar"])
def test_tiny_run_on_other_small_envs(env, tmp_path):
    if env == "minatar":
        pytest.importorskip("minatar")
    assert train_in_process(tmp_path, f"env={env}", "agent=dqn", "debug=tiny")["steps"] == 500


def test_rlkit_train_debug_tiny_finishes_fast_and_writes_its_files(tmp_path):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    proc = run_cli("rlkit-train", ["agent=rainbow", "debug=tiny", f"hydra.run.dir={run_dir}", "torch_threads=1",
                                   *QUIET], cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 120  # ~10 s: mostly imports; training itself takes about a second
    for name in [*RUN_FILES, "learning_curve.png"]:
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 500 and summary["train_time_s"] < 30
    assert "checkpoint at step 250" in (run_dir / "train.log").read_text()
    assert not (run_dir / "checkpoints").exists()  # removed when the run finished (checkpoint.keep_after_finish)
    assert not list(run_dir.rglob("*.mp4"))
