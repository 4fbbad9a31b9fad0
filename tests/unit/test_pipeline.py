"""Pipelined acting (train.pipeline, rlkit/training/stepping.py) and env groups (rlkit/envs/groups.py):
groups equal one vector env, one pipelined group equals the synchronous loop without learning, the
policy lag is exactly one vector step, runs are deterministic and resume exactly, bad configs are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import rlkit.components  # noqa: F401
from rlkit import registry
from rlkit.envs.groups import EnvGroups, _merge_info
from rlkit.training import checkpoint as ckpt
from rlkit.training.loop import Trainer
from rlkit.training.stepping import PipelinedStepper, SyncStepper
from rlkit.validation import validate_config
from tests.helpers import QUIET, compose, read_jsonl, train_in_process

VOLATILE = {"time", "charts/SPS", "eval/wall_time_s"}


def _cartpole(num_envs: int, mode: str = "sync") -> gym.vector.VectorEnv:
    return gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode=mode,
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})


def _same_step(a: tuple, b: tuple) -> None:
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y)
    mask = a[4].get("_final_obs")
    np.testing.assert_array_equal(mask if mask is not None else False, b[4].get("_final_obs", False) if mask is not None else False)
    if mask is not None:
        for i in np.flatnonzero(mask):
            np.testing.assert_array_equal(a[4]["final_obs"][i], b[4]["final_obs"][i])


def _atari_maker(num_envs: int):
    return registry.build("env", OmegaConf.create({
        "name": "atari", "game": "breakout", "num_envs": num_envs, "sticky_action_prob": 0.25, "noop_max": 30,
        "life_loss_terminal": True, "max_episode_frames": 2000,
    }))


@pytest.mark.parametrize("kind", ["cartpole", "cartpole_async", "atari"])
def test_groups_step_like_one_vector_env(kind):
    """Same per-env seeds and actions: 2 groups of 2 envs give what one vector env of 4 gives (obs,
    rewards, terminals, final observations; Atari with sticky actions, no-op starts and life losses;
    gymnasium's AsyncVectorEnv groups step in their worker processes between send and recv)."""
    if kind.startswith("cartpole"):
        mode = "async" if kind.endswith("async") else "sync"
        one, groups = _cartpole(4), EnvGroups([_cartpole(2, mode), _cartpole(2, mode)])
        assert {group.mode for group in groups.groups} == {"async" if mode == "async" else "deferred"}
        steps, actions = 400, 2
    else:
        maker = _atari_maker(4)
        one, groups = maker.make_train(seed=0), EnvGroups([maker.make_train(seed=0, num_envs=2) for _ in range(2)])
        assert {group.mode for group in groups.groups} == {"send"}
        steps, actions = 700, 4
    seeds = [11, 12, 13, 14]
    try:
        obs_one, _ = one.reset(seed=seeds)
        obs_groups, _ = groups.reset(seed=seeds)
        np.testing.assert_array_equal(obs_one, obs_groups)
        rng, ends = np.random.default_rng(0), 0
        for _ in range(steps):
            a = rng.integers(0, actions, 4)
            out_one = one.step(a)
            groups.send(0, a[:2])
            groups.send(1, a[2:])
            assert [p.tolist() for p in groups.in_flight()] == [a[:2].tolist(), a[2:].tolist()]
            out_groups = EnvGroups.merge([groups.recv(0), groups.recv(1)], groups.sizes)
            _same_step(out_one, out_groups)
            ends += int((out_one[2] | out_one[3]).sum())
        assert ends >= 4  # episode ends (and life losses) were crossed
    finally:
        one.close()
        groups.close()


def test_group_protocol_errors_and_merged_info():
    groups = EnvGroups([_cartpole(1), _cartpole(2)])
    try:
        groups.reset(seed=[0, 1, 2])
        with pytest.raises(RuntimeError, match="no step of this env group is in flight"):
            groups.recv(0)
        groups.send(0, np.array([0]))
        with pytest.raises(RuntimeError, match="already in flight"):
            groups.send(0, np.array([1]))
        with pytest.raises(ValueError, match="2 seeds for 3 envs"):
            groups.reset(seed=[0, 1])
    finally:
        groups.close()
    final = np.empty(2, dtype=object)
    final[1] = np.ones(3)
    merged = _merge_info([{"lives": np.array([3])}, {"lives": np.array([2, 1]), "final_obs": final,
                                                      "_final_obs": np.array([False, True])}], [1, 2])
    np.testing.assert_array_equal(merged["lives"], [3, 2, 1])
    np.testing.assert_array_equal(merged["_final_obs"], [False, False, True])  # missing group: False
    assert merged["final_obs"][0] is None and merged["final_obs"][1] is None
    np.testing.assert_array_equal(merged["final_obs"][2], np.ones(3))


class _RandomActor:
    """Epsilon-like: draws from its own generator on every call, so call order matters."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(3)
        self.calls: list[int] = []

    def act(self, obs: np.ndarray, step: int) -> np.ndarray:
        self.calls.append(step)
        return self.rng.integers(0, 2, obs.shape[0])


class _RowActor:
    """Each env's action depends on its own observation only."""

    def act(self, obs: np.ndarray, step: int) -> np.ndarray:
        return (obs[:, 2] > 0).astype(np.int64)


@pytest.mark.parametrize(("groups", "actor"), [(1, _RandomActor), (2, _RowActor)])
def test_pipelined_stepper_takes_the_synchronous_actions(groups, actor):
    """Without learning in between, pipelining changes when actions are chosen, not which: one group
    with a random actor (same draws in the same order), two groups with a per-env actor."""
    seeds = [0, 1, 2, 3]
    sync_envs, pipe_envs = _cartpole(4), EnvGroups([_cartpole(4 // groups) for _ in range(groups)])
    sync, pipe = SyncStepper(actor(), sync_envs), PipelinedStepper(actor(), pipe_envs)
    try:
        obs_a, _ = sync_envs.reset(seed=seeds)
        obs_b, _ = pipe_envs.reset(seed=seeds)
        for t in range(300):
            actions_a, out_a = sync.step(obs_a, 4 * t)
            actions_b, out_b = pipe.step(obs_b, 4 * t)
            np.testing.assert_array_equal(actions_a, actions_b)
            _same_step(out_a, out_b)
            obs_a, obs_b = out_a[0], out_b[0]
            assert pipe.in_flight() is not None and sync.in_flight() is None
        if groups == 1:  # the pipelined actor was called once more, for the step now in flight
            assert pipe.agent.calls == [*sync.agent.calls, 4 * 300]
    finally:
        sync_envs.close()
        pipe_envs.close()


LAG_RUN = ["agent=dqn", "train.steps=300", "train.learning_starts_steps=64", "agent.batch_size=32",
           "train.update_every_steps=2", "train.updates_per_cycle=1", "train.stop_at_eval_return=null",
           "train.log_every_steps=100", "eval.every_steps=0", "eval.episodes=1", "device=cpu", "checkpoint.every=0"]


def _updates_seen_by_act(tmp_path: Path, *overrides: str) -> dict[int, int]:
    """For each agent step whose actions were chosen: the learner updates done before they were."""
    trainer = Trainer(compose(*QUIET, "torch_threads=1", *LAG_RUN, *overrides), tmp_path)
    agent, seen = trainer.parts.agent, {}
    act = agent.act

    def spy(obs, step):
        seen[step] = agent.updates
        return act(obs, step)

    agent.act = spy
    trainer.train()
    return seen


def test_pipelined_actions_lag_the_learner_by_one_vector_step(tmp_path):
    """The stated policy lag: a pipelined run chooses step t's actions with the updates the synchronous
    loop had done by step t - E (E = 2 envs, an update every vector step)."""
    sync = _updates_seen_by_act(tmp_path / "sync", "env.num_envs=2")
    pipe = _updates_seen_by_act(tmp_path / "pipe", "env.num_envs=2", "train.pipeline=true")
    assert sorted(pipe) == [*sorted(sync), 300]  # one more: the step in flight at the end
    assert sync[200] == sync[198] + 1 and sync[198] > 0  # so a lag of one vector step is one update
    for step in sorted(sync)[1:]:
        assert pipe[step] == sync[step - 2], step


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_jsonl(run / "metrics.jsonl")]


def _weights_equal(a: Path, b: Path) -> bool:
    wa, wb = (torch.load(run / "model.pt", weights_only=True) for run in (a, b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


PIPELINED = ["agent=dqn", "env.num_envs=4", "train.pipeline=true", "train.pipeline_groups=2", "train.steps=2000",
             "train.learning_starts_steps=400", "train.log_every_steps=400", "eval.every_steps=800", "eval.episodes=2",
             "device=cpu", "checkpoint.every=1000", "checkpoint.keep_last=0", "checkpoint.keep_after_finish=true"]


def test_pipelined_run_resumes_exactly(tmp_path):
    """In-process envs: stopped at a checkpoint (with actions in flight) and resumed = uninterrupted,
    weights and every logged metric; a second identical run gives the same (determinism)."""
    full, again, resumed = tmp_path / "full", tmp_path / "again", tmp_path / "resumed"
    a = train_in_process(full, *PIPELINED)
    train_in_process(again, *PIPELINED)
    assert _weights_equal(full, again) and _metrics(full) == _metrics(again)
    name = "step_000000001000"
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(full / "checkpoints" / name).path)
    assert state["in_flight"] is not None and state["in_flight"].shape == (4,)
    assert state["env"] is not None and len(state["env"]["groups"]) == 2
    shutil.copytree(full / "checkpoints" / name, resumed / "checkpoints" / name)
    shutil.copy(full / "metrics.jsonl", resumed / "metrics.jsonl")
    b = train_in_process(resumed, *PIPELINED)
    assert b["resumed_from_step"] == 1000
    assert _weights_equal(full, resumed)
    assert _metrics(full) == _metrics(resumed)
    assert a["final_eval_returns"] == b["final_eval_returns"]


def test_synchronous_checkpoint_resumes_pipelined(tmp_path):
    """Switching pipelining on at a resume keeps the envs' episodes (env i gets env i's state)."""
    sync = [o for o in PIPELINED if not o.startswith("train.pipeline")]
    train_in_process(tmp_path / "sync", *sync)
    name = "step_000000001000"
    shutil.copytree(tmp_path / "sync" / "checkpoints" / name, tmp_path / "switched" / "checkpoints" / name)
    out = train_in_process(tmp_path / "switched", *PIPELINED)
    assert out["resumed_from_step"] == 1000 and out["steps"] == 2000
    lengths = [r["charts/episodic_length"] for r in read_jsonl(tmp_path / "switched" / "metrics.jsonl")
               if "charts/episodic_length" in r]
    assert lengths  # episodes in flight at the checkpoint finished and were counted


def test_pipelined_atari_run_is_deterministic(tmp_path):
    """ale-py's threads step the groups while the learner runs: two runs with one seed agree exactly."""
    run = ["env=atari", "env.game=pong", "agent=dqn", "env.num_envs=4", "train.pipeline=true",
           "train.pipeline_groups=2", "debug=tiny", "device=cpu"]
    first, second = train_in_process(tmp_path / "a", *run), train_in_process(tmp_path / "b", *run)
    assert _weights_equal(tmp_path / "a", tmp_path / "b")
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert first["final_eval_returns"] == second["final_eval_returns"]


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["train.pipeline_groups=2"], "train.pipeline_groups", "train.pipeline=false"),
    (["train.pipeline=true", "train.pipeline_groups=2", "env.num_envs=3"], "train.pipeline_groups",
     "cannot split env.num_envs=3"),
    (["train.pipeline=yes"], "train.pipeline", "must be true or false"),
    (["train.pipeline=true", "train.pipeline_groups=0"], "train.pipeline_groups", "must be >= 1"),
])
def test_bad_pipeline_configs_are_refused(overrides, key, message):
    problems = {p.key: p for p in validate_config(compose(*overrides), None)}
    assert key in problems and message in problems[key].message, problems
