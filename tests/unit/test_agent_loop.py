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


def _reference_act(agent, obs, epsilon, *, use_mean, resample):
    """The straightforward recipe: reset noise through QNetwork, no_grad forward, same RNG draws."""
    if resample:
        agent.online.reset_noise()
    explore = agent.rng.random(len(obs)) < epsilon
    random_actions = agent.rng.integers(agent.num_actions, size=len(obs))
    if explore.all():
        return random_actions
    agent.online.set_noise_mean(use_mean)
    with torch.no_grad():
        greedy = agent.online.q_values(torch.as_tensor(obs)).argmax(dim=1).numpy()
    agent.online.set_noise_mean(False)
    return np.where(explore, random_actions, greedy).astype(np.int64)


@pytest.mark.parametrize("preset", ["dqn", "rainbow"])
def test_act_picks_the_reference_actions_and_leaves_the_same_noise(preset):
    """The inference path (cached noisy layers, inference mode) changes no action and no noise
    sample: seeded runs act exactly as with a plain no_grad forward pass."""
    import copy

    agent = _agent(f"agent={preset}", "epsilon.start=0.3", "epsilon.end=0.3")
    twin = copy.deepcopy(agent)
    obs_rng = np.random.default_rng(0)
    greedy_seen = set()
    for t in range(40):
        obs = obs_rng.normal(size=(8, 4)).astype(np.float32)
        eval_mean = t % 4 == 3
        agent.noise.eval_mean = twin.noise.eval_mean = eval_mean
        torch.manual_seed(t)
        if t % 2:
            got = agent.act_eval(obs, 0.05)
        else:
            got = agent.act(obs, t)
        torch.manual_seed(t)
        if t % 2:
            want = _reference_act(twin, obs, 0.05, use_mean=eval_mean, resample=not eval_mean)
        else:
            want = _reference_act(twin, obs, 0.3 if preset == "dqn" else 0.0, use_mean=False, resample=True)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int64
        greedy_seen.update(got.tolist())
        for key, value in twin.online.state_dict().items():
            assert torch.equal(agent.online.state_dict()[key], value), key
    assert greedy_seen == {0, 1}
    assert all(not layer.use_mean for _, layer in agent.online.noisy_layers())


def test_act_finds_noisy_layers_once_per_network(monkeypatch):
    import copy

    from rlkit.networks.model import QNetwork

    agent = _agent("agent=rainbow")
    walks = []
    walk = QNetwork.noisy_layers
    monkeypatch.setattr(QNetwork, "noisy_layers", lambda self: walks.append(self) or walk(self))
    obs = np.zeros((2, 4), dtype=np.float32)
    for t in range(5):
        agent.act(obs, t)
        agent.act_eval(obs, 0.0)
    assert walks == [agent.online]
    replacement = copy.deepcopy(agent.online)
    agent.online = replacement
    eps = [layer.weight_epsilon.clone() for _, layer in walk(replacement)]
    agent.act(obs, 5)  # a new network: its own layers get fresh noise
    assert walks[-1] is replacement and len(walks) == 2
    assert all(not torch.equal(e, layer.weight_epsilon) for e, (_, layer) in zip(eps, walk(replacement), strict=True))


def test_noise_drawn_once_stays_through_acting_updates_and_target_syncs():
    """agent.noise.resample_on_act=false resample_on_update=false: the noise of Revisiting Rainbow's code (drawn at
    construction, never again; the MinAtar study's rainbow_fixed_noise diagnostic). Online, target and acting copy
    keep the first sample, while the weights learn."""
    from rlkit.types import Batch

    agent = _agent("agent=rainbow", "agent.noise.resample_on_act=false", "agent.noise.resample_on_update=false")

    def noise(net):
        return [layer.weight_epsilon.clone() for _, layer in net.noisy_layers()]

    agent.use_acting_copy()  # as with a learner thread: a third copy of the noise
    first = noise(agent.online)
    assert first and all(e.abs().sum() > 0 for e in first)
    before = _params(agent.online)
    gen = torch.Generator().manual_seed(0)
    for step in range(3):
        obs = torch.randn(32, 4, generator=gen)
        agent.act(obs[:1].numpy(), step)
        agent.update(Batch(obs=obs, actions=torch.randint(0, 2, (32,), generator=gen),
                           rewards=torch.randn(32, generator=gen), next_obs=torch.randn(32, 4, generator=gen),
                           discounts=torch.full((32,), 0.99), weights=torch.ones(32), indices=np.arange(32)))
        agent.sync_target()
        agent.publish()
    assert not torch.equal(_params(agent.online), before)
    assert torch.equal(_params(agent.acting_network), _params(agent.online))
    for net in (agent.online, agent.target, agent.acting_network):
        assert all(torch.equal(a, b) for a, b in zip(noise(net), first, strict=True))


@pytest.mark.parametrize("low_rank", [True, False], ids=["low_rank_acting", "built_weights"])
def test_learning_after_acting_sees_the_same_network(low_rank):
    """Acting (inference mode) changes nothing the learner sees: weights cached while acting serve the
    learner's no-grad passes unchanged, and the factored acting path leaves the noise as it was; an
    agent that acted and one that did not take the identical update."""
    import copy

    from rlkit.types import Batch

    agent = _agent("agent=rainbow", "agent.noise.resample_on_act=false", "agent.noise.resample_on_update=false")
    for _, layer in agent.online.noisy_layers():
        layer.low_rank_acting = low_rank
    twin = copy.deepcopy(agent)
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(32, 4, generator=gen)
    batch = Batch(obs=obs, actions=torch.randint(0, 2, (32,), generator=gen), rewards=torch.randn(32, generator=gen),
                  next_obs=torch.randn(32, 4, generator=gen), discounts=torch.full((32,), 0.99),
                  weights=torch.ones(32), indices=np.arange(32))
    agent.act(obs.numpy(), 0)
    assert any(layer._cache is not None for _, layer in agent.online.noisy_layers()) != low_rank
    out, twin_out = agent.update(batch), twin.update(batch)
    assert torch.equal(out.loss, twin_out.loss)
    assert torch.equal(out.priorities, twin_out.priorities)
    for key, value in twin.online.state_dict().items():
        assert torch.equal(agent.online.state_dict()[key], value), key


@pytest.mark.gpu
def test_act_on_cuda_matches_cpu():
    """CUDA acting (page-locked staging buffer, asynchronous copy) picks the CPU agent's actions."""
    import copy

    agent = _agent("agent=dqn", "epsilon.start=0.0", "epsilon.end=0.0")
    gpu = copy.deepcopy(agent)
    gpu.device = torch.device("cuda")
    gpu.online.to(gpu.device)
    for t in range(5):
        obs = np.random.default_rng(t).normal(size=(16, 4)).astype(np.float32)
        np.testing.assert_array_equal(gpu.act(obs, t), agent.act(obs, t))
        assert gpu._pinned is not None and gpu._pinned.is_pinned()


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


def test_a_generator_state_from_the_other_device_type_restarts_it_from_a_derived_seed(caplog):
    """A checkpoint written on CUDA holds a 16-byte Philox state, one written on CPU a Mersenne Twister state:
    resuming on the other device type reseeds the generator (seed, update count) with a warning, not a crash."""
    agent = _agent("agent=iqn")  # draws its quantile fractions from the generator
    state = agent.state_dict()
    state["updates"] = 7
    state["generator"] = torch.zeros(16, dtype=torch.uint8)  # what torch.Generator("cuda").get_state() returns
    resumed = _agent("agent=iqn")
    with caplog.at_level("WARNING"):
        resumed.load_state_dict(state)
    assert "another device type" in caplog.text and "update 7" in caplog.text
    seed = int(np.random.SeedSequence([resumed._seed, 7]).generate_state(1)[0])
    assert torch.equal(resumed.generator.get_state(), torch.Generator().manual_seed(seed).get_state())
    assert resumed.act(np.zeros((2, 4), dtype=np.float32), 0).shape == (2,)

    same = _agent("agent=iqn")  # a state of the same device type is restored as it was
    agent.generator.manual_seed(123)
    same.load_state_dict(agent.state_dict())
    assert torch.equal(same.generator.get_state(), agent.generator.get_state())
