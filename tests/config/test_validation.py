"""Config validation (rlkit/validation/): one test per rule, all problems at once, shipped presets clean, CLI."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from rlkit import registry
from rlkit.validation import ConfigError, ConfigProblem, check_config, validate_config
from tests.helpers import compose, run_cli, train_in_process

CONF = Path(__file__).resolve().parents[2] / "conf"
AGENTS = sorted(p.stem for p in (CONF / "agent").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
ENVS = sorted(p.stem for p in (CONF / "env").glob("*.yaml"))


def _problems(*overrides: str, run_dir: Path | None = None) -> dict[str, ConfigProblem]:
    problems = validate_config(compose(*overrides), run_dir)
    by_key = {p.key: p for p in problems}
    assert len(by_key) == len(problems), "at most one problem per key"
    return by_key


def _only(*overrides: str) -> ConfigProblem:
    problems = _problems(*overrides)
    assert len(problems) == 1, problems
    return next(iter(problems.values()))


def _compose_unresolved(*overrides: str) -> DictConfig:
    """The config as ``rlkit-train`` hands it to ``main``: interpolations (knobs, resolvers) not yet resolved."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from rlkit.units import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="rlkit.conf", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


# ------------------------------------------------------------------------ component names and keys
@pytest.mark.parametrize(("override", "key", "closest"), [
    ("network.head.name=duelin", "network.head.name", "dueling"),
    ("optim.name=adamw", "optim.name", "adam"),
    ("replay.sampler.name=prioritised", "replay.sampler.name", "prioritized"),
    ("env.name=gymm", "env.name", "gym"),
    ("agent.name=dqnn", "agent.name", "dqn"),
    ("logger.jsonl.name=json", "logger.jsonl.name", "jsonl"),
])
def test_unknown_component_name_lists_valid_names_and_closest(override, key, closest):
    problem = _only(override)
    group = "logger" if key.startswith("logger") else key.rsplit(".", 1)[0].replace(".", "/")
    assert problem.key == key
    assert f"valid names: {', '.join(registry.names(group))}" in problem.message
    assert f"set {key}={closest}" in problem.fix


def test_disabled_logger_is_not_checked():
    assert _problems("logger.jsonl.name=json", "logger.jsonl.enabled=false") == {}


def test_imports_register_user_parts_before_names_are_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {g: dict(e) for g, e in registry._REGISTRY.items()})  # no leak
    (tmp_path / "val_user_parts.py").write_text(textwrap.dedent('''
        from rlkit.registry import register

        @register("network/torso", "val_tiny")
        def tiny(*, obs_shape, hidden_sizes=(8,), activation="relu", width: int = 8):
            raise AssertionError("validation must not build components")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "val_user_parts", raising=False)
    assert _problems("imports=[val_user_parts]", "network.torso.name=val_tiny", "+network.torso.width=3") == {}
    problem = _problems("network.torso.name=val_tiny_missing")["network.torso.name"]
    assert "val_tiny" in problem.message  # registered by the import above, listed as valid


def test_unimportable_user_module_is_reported():
    problem = _only("imports=[no_such_rlkit_module_xyz]")
    assert problem.key == "imports"
    assert "no_such_rlkit_module_xyz" in problem.message and "ModuleNotFoundError" in problem.message
    assert "PYTHONPATH" in problem.fix


def test_a_key_of_the_optimiser_a_tuning_file_replaced_says_how_to_keep_it():
    """optim=adam on CartPole DQN: its tuning names torch's RMSProp, which cannot take Adam's `fused`."""
    problem = _only("agent=dqn", "optim=adam")
    assert problem.key == "optim.fused" and "not an argument of optim/rmsprop" in problem.message
    assert "argument of optim/adam" in problem.fix and "optim.name=adam" in problem.fix and "~optim.fused" in problem.fix
    assert not validate_config(compose("agent=dqn", "optim=adam", "optim.name=adam"))


def test_config_key_that_is_not_a_constructor_argument():
    problem = _only("+network.head.widht=3")
    assert problem.key == "network.head.widht"
    assert "not an argument of network/head/dueling" in problem.message and "hidden_sizes" in problem.message
    assert "~network.head.widht" in problem.fix


def test_config_key_set_at_run_time_is_reported():
    problem = _only("+network.head.num_actions=3")
    assert problem.key == "network.head.num_actions" and "set at run time" in problem.message


@pytest.mark.parametrize(("override", "key", "choices"), [
    ("env.vectorization=threads", "env.vectorization", "['sync', 'async']"),
    ("logger.wandb.mode=onlin", "logger.wandb.mode", "'offline'"),
])
def test_literal_argument_outside_its_choices(override, key, choices):
    problem = _only(override)
    assert problem.key == key and "must be one of" in problem.message and choices in problem.message


def test_missing_key_is_reported():
    problem = _only("~eval.episodes")
    assert problem.key == "eval.episodes" and problem.message == "is missing"
    assert "+eval.episodes=" in problem.fix


# ---------------------------------------------------------------------------------------- C51 support
@pytest.mark.parametrize(("v_min", "v_max"), [(10, -10), (5, 5)])
def test_c51_v_min_not_below_v_max(v_min, v_max):
    problem = _only(f"c51.v_min={v_min}", f"c51.v_max={v_max}")
    assert problem.key == "network.head.output.v_min"  # the node the head reads
    assert f"v_min={v_min}" in problem.message and f"v_max={v_max}" in problem.message
    assert "c51.v_min" in problem.fix and "c51.v_max" in problem.fix  # the knob to change


def test_c51_needs_two_atoms():
    problem = _only("c51.num_atoms=1")
    assert problem.key == "network.head.output.num_atoms" and "must be >= 2, got 1" in problem.message
    assert "c51.num_atoms=51" in problem.fix
    assert _problems("c51.num_atoms=2") == {}


def test_c51_knob_is_not_checked_when_no_head_reads_it():
    assert _problems("agent=dqn", "c51.v_min=10", "c51.v_max=-10", "c51.num_atoms=0") == {}


def test_fix_names_the_node_when_it_does_not_read_the_knob():
    problem = _only("network.head.output.v_min=200")  # CartPole tuning: c51 = [0, 100]
    assert problem.key == "network.head.output.v_min" and "network.head.output.v_min below" in problem.fix
    assert "c51.v_min" not in problem.fix


def test_unresolved_config_fix_names_the_interpolated_knob():
    knob = {p.key: p for p in validate_config(_compose_unresolved("c51.num_atoms=1", "per.alpha=-1"))}
    assert knob["network.head.output.num_atoms"].fix.startswith("set c51.num_atoms=")
    assert knob["replay.sampler.alpha"].fix.startswith("set per.alpha >= 0")
    direct = {p.key: p for p in validate_config(_compose_unresolved("network.head.output.num_atoms=1"))}
    assert direct["network.head.output.num_atoms"].fix.startswith("set network.head.output.num_atoms=")


def test_loss_and_head_must_agree():
    problem = _only("loss=td")  # Rainbow's dueling_c51 head: categorical outputs
    assert problem.key == "loss.name"
    assert "loss 'td' needs a head with scalar outputs" in problem.message and "categorical" in problem.message
    assert "loss=categorical" in problem.fix and "network/head=dueling or q" in problem.fix  # the scalar options
    problem = _only("agent=dqn", "loss=categorical")
    assert "loss 'categorical' needs a head with categorical outputs" in problem.message
    assert "loss=td" in problem.fix and "network/head=c51 or dueling_c51" in problem.fix
    problem = _only("agent=dqn", "loss=quantile_huber")
    assert "loss 'quantile_huber' needs a head with quantile outputs" in problem.message
    assert "network/head=dueling_iqn or dueling_qr or iqn or qr" in problem.fix
    problem = _only("agent=dqn", "network/head=iqn")
    assert "loss=quantile_huber" in problem.fix


# ------------------------------------------------------------------------------- n-step, batch, warm-up
def test_n_step_below_one():
    problem = _only("agent.n_step=0")
    assert problem.key == "agent.n_step" and "must be >= 1, got 0" in problem.message


def test_batch_larger_than_replay_capacity():
    problem = _only("replay.capacity=32")  # CartPole tuning: batch 64
    assert problem.key == "agent.batch_size"
    assert "batch of 64 is larger than replay.capacity=32" in problem.message and "at least 64" in problem.fix


@pytest.mark.parametrize(("agent", "n_step", "batch"), [("rainbow", 3, 64), ("der", 10, 64), ("dqn", 1, 64)])
def test_learning_starts_before_a_batch_can_be_drawn(agent, n_step, batch):
    needed = batch + n_step - 1
    problem = _only(f"agent={agent}", f"train.learning_starts_steps={needed - 1}")
    assert problem.key == "train.learning_starts_steps"
    assert f"need {needed} steps stored" in problem.message
    assert f"train.learning_starts_steps={needed}" in problem.fix
    assert _problems(f"agent={agent}", f"train.learning_starts_steps={needed}") == {}


def test_learning_never_starts_within_train_steps():
    problem = _only("train.steps=500", "train.learning_starts_steps=500")
    assert problem.key == "train.learning_starts_steps" and "no update would ever run" in problem.message


def test_frame_store_too_small_for_a_stack_and_an_n_step_window():
    problems = _problems("env=atari", "replay.capacity=8", "agent.batch_size=4", "train.learning_starts_steps=100")
    assert list(problems) == ["replay.capacity"]
    assert "need 9" in problems["replay.capacity"].message  # stack 4 + n 3 + 2
    assert "replay.capacity=9" in problems["replay.capacity"].fix


# ------------------------------------------------------------------------------------- probabilities
@pytest.mark.parametrize(("overrides", "key", "setting"), [
    (("exploration=epsilon", "epsilon.start=1.5"), "exploration.start", "epsilon.start"),
    (("exploration=epsilon", "epsilon.end=-0.1"), "exploration.end", "epsilon.end"),
    (("eval.epsilon=1.2",), "eval.epsilon", "eval.epsilon"),
    (("per.beta_start=-0.5",), "replay.sampler.beta_start", "per.beta_start"),
    (("per.beta_end=1.5",), "replay.sampler.beta_end", "per.beta_end"),
    (("agent.gamma=1.01",), "agent.gamma", "agent.gamma"),
    (("env=atari", "env.sticky_action_prob=1.5"), "env.sticky_action_prob", "env.sticky_action_prob"),
])
def test_probability_outside_unit_interval(overrides, key, setting):
    problem = _only(*overrides)
    assert problem.key == key and "must lie in [0, 1]" in problem.message
    assert problem.fix == f"set {setting} to a value between 0 and 1"


def test_probability_bounds_are_valid():
    assert _problems("exploration=epsilon", "epsilon.start=1.0", "epsilon.end=0.0", "eval.epsilon=1.0",
                     "per.beta_start=0.0", "per.beta_end=1.0", "agent.gamma=1.0") == {}


def test_per_alpha_below_zero():
    problem = _only("per.alpha=-0.1")
    assert problem.key == "replay.sampler.alpha" and "must be >= 0, got -0.1" in problem.message
    assert problem.fix.startswith("set per.alpha >= 0")
    assert _problems("per.alpha=0") == {}
    assert _problems("agent=dqn", "per.alpha=-1") == {}  # uniform replay reads no PER knob


# --------------------------------------------------------------------------------------- Atari game
def test_atari_game_unknown_to_ale_lists_closest_names():
    problem = _only("env=atari", "env.game=pongg")
    assert problem.key == "env.game" and "ale-py has no Atari game 'pongg'" in problem.message
    assert "closest: pong" in problem.message and problem.fix == "set env.game=pong"
    problem = _only("env=atari", "env.game=space_invader")
    assert "space_invaders" in problem.message


def test_atari_game_spellings_are_accepted_and_id_must_match():
    assert _problems("env=atari", "env.game=MsPacman") == {}
    problem = _only("env=atari", "env.game=pong", "env.id=breakout")
    assert problem.key == "env.id" and "names another game" in problem.message


def test_unknown_gymnasium_env_id():
    problem = _only("env.id=CartPol-v1")
    assert problem.key == "env.id" and "CartPole-v1" in problem.fix


# ------------------------------------------------------------------------------------------- device
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_device_without_cuda(device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problem = _only(f"device={device}")
    assert problem.key == "device" and "torch.cuda.is_available() is false" in problem.message
    assert "device=auto" in problem.fix and "device=cpu" in problem.fix
    assert _problems("device=auto") == {} and _problems("device=cpu") == {}


def test_cuda_index_beyond_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    problem = _only("device=cuda:1")
    assert problem.key == "device" and "1 CUDA device(s)" in problem.message and "cuda:0" in problem.fix
    assert _problems("device=cuda:0") == {} and _problems("device=cuda") == {}


def test_unknown_device_string():
    problem = _only("device=gpu")
    assert problem.key == "device" and "unknown device 'gpu'" in problem.message and "cuda:N" in problem.fix


# ------------------------------------------------------------------------------------------ run dir
def test_run_dir_below_a_file_is_reported(tmp_path):
    (tmp_path / "afile").write_text("x")
    problem = _problems(run_dir=tmp_path / "afile" / "run")["hydra.run.dir"]
    assert "is a file, not a directory" in problem.message
    problem = _problems(run_dir=tmp_path / "afile")["hydra.run.dir"]
    assert "is not a directory" in problem.message


def test_unwritable_run_dir_is_found_without_writing(tmp_path, monkeypatch):
    run_dir = tmp_path / "ro" / "a" / "b"
    (tmp_path / "ro").mkdir()
    asked = []

    def access(path, mode):
        asked.append(Path(path))
        return Path(path) != tmp_path / "ro"

    monkeypatch.setattr(os, "access", access)
    problem = _problems(run_dir=run_dir)["hydra.run.dir"]
    assert "no write permission" in problem.message and str(tmp_path / "ro") in problem.message
    assert [p for p in asked if tmp_path in p.parents] == [tmp_path / "ro"]  # the first existing ancestor only
    assert not (tmp_path / "ro" / "a").exists()


def test_writable_run_dir_is_not_created(tmp_path):
    assert _problems(run_dir=tmp_path / "x" / "y" / "run") == {}
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ other ranges
@pytest.mark.parametrize(("overrides", "key", "message"), [
    (("train.steps=0",), "train.steps", "must be >= 1, got 0"),
    (("train.update_every_steps=0",), "train.update_every_steps", "must be >= 1, got 0"),
    (("train.updates_per_cycle=0",), "train.updates_per_cycle", "must be >= 1, got 0"),
    (("train.log_every_steps=0",), "train.log_every_steps", "must be >= 1, got 0"),
    (("train.steps=1.5",), "train.steps", "must be an integer, got 1.5"),
    (("replay.capacity=0",), "replay.capacity", "must be >= 1, got 0"),
    (("agent.batch_size=0",), "agent.batch_size", "must be >= 1, got 0"),
    (("agent.tau=0",), "agent.tau", "must lie in (0, 1], got 0"),
    (("agent.target_update_every_steps=0",), "agent.target_update_every_steps", "must be >= 1, got 0"),
    (("agent.max_grad_norm=-1",), "agent.max_grad_norm", "must be >= 0 or null, got -1"),
    (("agent.gamma=abc",), "agent.gamma", "must be a number, got 'abc'"),
    (("eval.episodes=0",), "eval.episodes", "must be >= 1, got 0"),
    (("eval.every_steps=-1",), "eval.every_steps", "must be >= 0, got -1"),
    (("eval.num_envs=0",), "eval.num_envs", "must be >= 1, got 0"),
    (("eval.max_steps=0",), "eval.max_steps", "must be >= 1, got 0"),
    (("eval.video=true", "eval.video_episodes=0"), "eval.video_episodes", "must be >= 1, got 0"),
    (("env.num_envs=0",), "env.num_envs", "must be >= 1, got 0"),
    (("env=atari", "env.stack=0"), "env.stack", "must be >= 1, got 0"),
    (("env=atari", "env.noop_max=-1"), "env.noop_max", "must be >= 0, got -1"),
    (("env=atari", "env.reward_clip=0"), "env.reward_clip", "must be > 0 or null"),
    (("exploration=epsilon", "epsilon.decay_steps=-1"), "exploration.decay_steps", "must be >= 0, got -1"),
    (("exploration=epsilon", "epsilon.schedule=exponential", "epsilon.end=0.0"), "exploration.end",
     "exponential schedule needs epsilon > 0"),
    (("noisy.sigma0=-0.1",), "network.layer.sigma0", "noise scale must be > 0"),
    (("network.hidden_sizes=[0]",), "network.head.hidden_sizes", "positive layer widths"),
    (("torch_threads=0",), "torch_threads", "'auto' or an integer >= 1"),
    (("checkpoint.every=-1",), "checkpoint.every", "must be >= 0, got -1"),
    (("checkpoint.keep_last=-1",), "checkpoint.keep_last", "must be >= 0, got -1"),
    (("checkpoint.replay=maybe",), "checkpoint.replay", "must be true or false"),
    (("seed=-1",), "seed", "integer >= 0"),
])
def test_cheap_range_rules(overrides, key, message):
    problem = _only(*overrides)
    assert problem.key == key and message in problem.message, problem


def test_stop_at_eval_return_without_periodic_evaluations_is_allowed(tmp_path, caplog):
    """CartPole's tuning sets a stop threshold; eval.every_steps=0 (no periodic evaluation) just turns it off,
    with a warning when the run starts."""
    assert validate_config(compose("train.stop_at_eval_return=475", "eval.every_steps=0", "train.steps=300",
                                   "train.learning_starts_steps=100")) == []
    with caplog.at_level("WARNING", logger="rlkit.training.loop"):
        summary = train_in_process(tmp_path / "run", "train.stop_at_eval_return=475", "eval.every_steps=0",
                                   "train.steps=300", "train.learning_starts_steps=100", "eval.episodes=1")
    assert summary["steps"] == 300 and not summary["stopped_early"]
    assert any("eval.every_steps=0" in r.getMessage() and "stop_at_eval_return" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------ all at once, presets
def test_every_problem_is_reported_at_once(tmp_path):
    (tmp_path / "afile").write_text("x")
    cfg = compose("env=atari", "env.game=pongg", "agent.n_step=0", "per.alpha=-1", "c51.v_min=20", "eval.epsilon=2",
                  "network.head.name=dueling_c5", "device=gpu")
    with pytest.raises(ConfigError) as info:
        check_config(cfg, tmp_path / "afile" / "run")
    keys = ["network.head.name", "env.game", "agent.n_step", "replay.sampler.alpha", "network.head.output.v_min",
            "eval.epsilon", "device", "hydra.run.dir"]
    assert sorted(p.key for p in info.value.problems) == sorted(keys)  # an unknown head's v_min is still checked
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid config: 8 problems (nothing was built or written)"
    assert lines[1:] == [str(p) for p in info.value.problems]
    assert all(line.startswith("- ") and ". Fix: " in line for line in lines[1:])
    assert isinstance(info.value, ValueError)


def test_problem_line_format():
    assert str(ConfigProblem("agent.n_step", "must be >= 1, got 0.", "set agent.n_step=1")) == (
        "- agent.n_step: must be >= 1, got 0. Fix: set agent.n_step=1")


@pytest.mark.parametrize("overrides", [
    *[(f"agent={a}",) for a in AGENTS],
    *[(f"experiment={e}",) for e in EXPERIMENTS],
    *[(f"env={e}",) for e in ENVS],
    ("env=atari", "env.game=pong"),
    ("env=atari", "env.game=pong", "agent=dqn"),
], ids=lambda o: " ".join(o))
def test_shipped_presets_validate_clean(overrides, tmp_path):
    assert validate_config(compose(*overrides), tmp_path / "run") == []
    check_config(compose(*overrides))  # does not raise
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_reports_every_problem_and_exits_2_without_run_files(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("rlkit-train", [f"hydra.run.dir={run_dir}", "agent.n_step=0", "per.alpha=-1"], cwd=tmp_path,
                   timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "invalid config: 2 problems" in proc.stderr
    assert "- agent.n_step: must be >= 1, got 0. Fix:" in proc.stderr
    assert "- replay.sampler.alpha: must be >= 0, got -1. Fix: set per.alpha >= 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "model.pt", "tb"):
        assert not (run_dir / name).exists(), name
