"""Small envs run a preset only through a tuning file (or tuning=none); every env file declares its family."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from rlkit.validation import validate_config
from tests.helpers import QUIET, compose, run_cli

CONF = Path(__file__).resolve().parents[2] / "conf"
FAMILIES = {"classic": True, "atari": False, "minatar": False}  # family -> needs a tuning file


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _tuning_problems(*overrides: str) -> list[str]:
    return [str(p) for p in validate_config(compose(*overrides)) if p.key == "tuning"]


@pytest.mark.parametrize("env", _options("env"))
def test_every_env_file_declares_its_family(env):
    sizing = compose(f"env={env}").sizing
    assert sizing.family in FAMILIES, f"conf/env/{env}.yaml: no family (defaults: - family/<name>)"
    assert sizing.needs_tuning is FAMILIES[sizing.family]


@pytest.mark.parametrize("agent", _options("agent"))
@pytest.mark.parametrize("env", _options("env"))
def test_every_env_agent_pair_is_tuned_or_refused(env, agent):
    """Groups are read from conf/ at collection time: presets and envs added later are covered too."""
    cfg = compose(f"env={env}", f"agent={agent}")
    if not cfg.sizing.needs_tuning:  # Atari, MinAtar: the presets' paper values are the point
        assert cfg.sizing.family in ("atari", "minatar")
        return
    problems = [str(p) for p in validate_config(cfg) if p.key == "tuning"]
    if (CONF / "tuning" / f"{env}_{agent}.yaml").is_file():
        assert cfg.sizing.tuning == f"{env}_{agent}" and problems == []
        # it does resize the preset: a warm-up of a few percent of the run, a replay that fits the budget
        assert cfg.train.learning_starts_steps <= cfg.train.steps // 10
        assert cfg.replay.capacity <= cfg.train.steps
    else:
        assert len(problems) == 1, f"env={env} agent={agent}: neither tuned nor refused"
        assert f"no tuning resizes agent={agent} for it (conf/tuning/{env}_{agent}.yaml does not exist)" in problems[0]
        assert f"Fix: add conf/tuning/{env}_{agent}.yaml" in problems[0] and "tuning=none" in problems[0]


def test_refusal_message():
    (problem,) = _tuning_problems("env=acrobot", "tuning=acrobot_missing")
    assert problem == (
        "- tuning: env=acrobot is a small env (family classic: conf/env/family/classic.yaml) and no tuning resizes "
        "agent=rainbow for it (conf/tuning/acrobot_missing.yaml does not exist), so the preset's paper values would "
        "run (replay.capacity=1000000, train.learning_starts_steps=80000, train.steps=100000). Fix: add "
        "conf/tuning/acrobot_missing.yaml (tunings of agent=rainbow to start from: acrobot_rainbow, cartpole_rainbow, "
        "minatar_rainbow), choose a tuning with tuning=<name>, or run the paper values on purpose with tuning=none")


def test_removed_tuning_is_refused_and_the_fix_says_which_file_would_apply():
    (problem,) = _tuning_problems("env=cartpole", "agent=dqn", "~tuning")
    assert "(the tuning was removed: ~tuning or tuning=null)" in problem
    assert "Fix: drop ~tuning (conf/tuning/cartpole_dqn.yaml applies)" in problem


def test_tuning_none_runs_the_paper_values_on_purpose():
    cfg = compose("env=acrobot", "agent=dqn", "tuning=none")
    assert cfg.sizing.tuning == "none" and _tuning_problems("env=acrobot", "agent=dqn", "tuning=none") == []
    assert (cfg.replay.capacity, cfg.train.learning_starts_steps) == (1_000_000, 50_000)  # Nature DQN's
    # on a paper-scale env it drops a tuning that would apply: Nature DQN on MinAtar, not Revisiting Rainbow's
    assert compose("env=minatar", "agent=dqn", "tuning=none").train.learning_starts_steps == 50_000


@pytest.mark.parametrize("agent", ["dqn", "c51", "rainbow", "der"])
def test_acrobot_tuning_extends_the_presets_cartpole_tuning(agent):
    cartpole, acrobot = compose(f"agent={agent}"), compose("env=acrobot", f"agent={agent}")
    assert acrobot.sizing.tuning == f"acrobot_{agent}"
    assert (acrobot.train.steps, acrobot.train.stop_at_eval_return) == (100_000, -100)  # Acrobot-v1's threshold
    assert (acrobot.c51.v_min, acrobot.c51.v_max) == (-100.0, 0.0)  # returns at gamma 0.99 lie in [-100, 0]
    same = ["replay.capacity", "train.learning_starts_steps", "agent.n_step", "network.hidden_sizes", "optim.name"]
    schedule = ["train.update_every_steps", "train.updates_per_cycle", "agent.batch_size",
                "agent.target_update_every_steps", "optim.lr"]
    if agent in ("dqn", "c51"):  # the DQN family's Acrobot schedule (acrobot_base_dqn: RL Zoo's recipe)
        assert [OmegaConf.select(acrobot, key) for key in schedule] == [4, 4, 128, 250, 6.3e-4]
    else:  # the Rainbow family keeps its CartPole schedule
        same += schedule
    for key in same:
        assert OmegaConf.select(acrobot, key) == OmegaConf.select(cartpole, key), key


def test_configs_saved_before_the_rule_are_not_refused():
    """A resumed run's config.yaml from an older version has no sizing node: nothing to check."""
    cfg = compose("env=acrobot", "~tuning")
    with open_dict(cfg):
        del cfg["sizing"]
    assert [p for p in validate_config(cfg) if p.key == "tuning"] == []


def test_cli_refuses_before_writing_anything(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("rlkit-train", ["env=acrobot", "tuning=acrobot_missing", f"hydra.run.dir={run_dir}", *QUIET],
                   cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "- tuning: env=acrobot is a small env" in proc.stderr and "tuning=none" in proc.stderr
    assert not run_dir.exists() and not (tmp_path / "outputs").exists()
