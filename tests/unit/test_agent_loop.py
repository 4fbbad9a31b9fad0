"""Agent mechanics (target sync, acting) and the loop's episode-boundary handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.training.episodes import EpisodeTracker
from rlkit.training.loop import real_next_obs
from tests.helpers import compose, read_jsonl


def _agent(*overrides: str):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    cfg = compose("torch_threads=1", *overrides)
    return build_parts(cfg, torch.device("cpu")).agent


def _params(net):
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


def test_hard_target_sync_only_every_period():
    agent = _agent("agent=dqn", "agent.target_update_every_steps=100")
    with torch.no_grad():
        for p in agent.online.parameters():
            p.add_(1.0)
    before = _params(agent.target)
    assert not agent.maybe_sync_target(99)
    assert torch.equal(_params(agent.target), before)
    assert agent.maybe_sync_target(100)
    assert torch.equal(_params(agent.target), _params(agent.online))
    assert not agent.maybe_sync_target(150)
    assert agent.maybe_sync_target(204)  # a vector step may overshoot; the period stays aligned
    assert agent.last_target_sync_step == 200


def test_soft_target_update_is_polyak():
    agent = _agent("agent=dqn", "agent.tau=0.25", "agent.target_update_every_steps=1")
    target0, online = _params(agent.target), None
    with torch.no_grad():
        for p in agent.online.parameters():
            p.add_(4.0)
    online = _params(agent.online)
    agent.maybe_sync_target(1)
    assert torch.allclose(_params(agent.target), 0.75 * target0 + 0.25 * online, atol=1e-6)


def test_epsilon_one_acts_uniformly_and_epsilon_zero_greedily():
    agent = _agent("agent=dqn", "epsilon.start=1.0", "epsilon.end=1.0")
    obs = np.zeros((4000, 4), dtype=np.float32)
    actions = agent.act(obs, 0)
    assert set(np.unique(actions)) == {0, 1}
    assert abs(actions.mean() - 0.5) < 0.05
    greedy = agent.act_eval(obs[:10], epsilon=0.0)
    expected = agent.online.q_values(torch.as_tensor(obs[:10])).argmax(1).numpy()
    assert np.array_equal(greedy, expected)


def test_invalid_tau_rejected():
    with pytest.raises(ValueError, match="tau"):
        _agent("agent=dqn", "agent.tau=0")


def test_real_next_obs_replaces_reset_obs_of_finished_envs():
    next_obs = np.array([[1.0], [2.0], [3.0]])
    final = np.empty(3, dtype=object)
    final[1] = np.array([9.0])
    info = {"final_obs": final, "_final_obs": np.array([False, True, False])}
    out = real_next_obs(next_obs, info)
    assert out.tolist() == [[1.0], [9.0], [3.0]]
    assert next_obs.tolist() == [[1.0], [2.0], [3.0]]  # input untouched
    assert real_next_obs(next_obs, {}) is next_obs


def test_episode_tracker_reports_raw_returns_per_env():
    t = EpisodeTracker(2)
    assert list(t.step(np.array([1.0, 2.0]), np.array([False, False]))) == []
    done = list(t.step(np.array([1.0, 5.0]), np.array([False, True])))
    assert done == [(1, 7.0, 2)]
    done = list(t.step(np.array([1.0, 1.0]), np.array([True, True])))
    assert done == [(0, 3.0, 3), (1, 1.0, 1)]


def test_truncation_bootstraps_and_termination_does_not(tmp_path):
    """Through the real loop: time-limit ends store discount gamma, pole falls store 0."""
    import rlkit.components  # noqa: F401
    from rlkit.training.loop import Trainer

    cfg = compose("agent=dqn", "torch_threads=1", "logger.console.enabled=false", "logger.tensorboard.enabled=false",
                  "logger.wandb.enabled=false", "env.max_episode_steps=20", "train.steps=400",
                  "train.learning_starts_steps=100000", "eval.every_steps=0", "eval.episodes=1",
                  "env.num_envs=2", "agent.n_step=1")
    trainer = Trainer(cfg, tmp_path)
    trainer.train()
    storage = trainer.parts.replay.storage
    data = storage.get(np.arange(len(storage)))
    discounts = data["discounts"]
    # every transition either bootstraps with gamma (incl. truncation at step 20) or terminates with 0
    assert np.all((discounts == 0) | np.isclose(discounts, 0.99))
    episodes = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "charts/episodic_length" in m]
    truncated = [m for m in episodes if m["charts/episodic_length"] == 20]
    terminated = [m for m in episodes if m["charts/episodic_length"] < 20]
    assert truncated and terminated
    # pole falls cut the bootstrap; time limits do not (a fall on the cap step is both, and terminal)
    assert len(terminated) <= (discounts == 0).sum() < len(terminated) + len(truncated)
    # terminal transitions are pole falls (|angle| > 12 deg or |x| > 2.4), never mere time limits
    term = data["next_obs"][discounts == 0]
    assert np.all((np.abs(term[:, 2]) > 0.2094) | (np.abs(term[:, 0]) > 2.4))
    # the bootstrap observation of a continuing transition is the env's next state, never a reset state
    assert len(storage) == 400
