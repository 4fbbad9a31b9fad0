"""MinAtar (Young & Tian 2019): env maker, observations, knobs, autoreset, seeding, exact snapshots,
the minatar_cnn torso, the Revisiting Rainbow presets (Obando-Ceron & Castro 2021), video, validation."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlkit.components  # noqa: F401  (registers env "minatar" and torso "minatar_cnn")
from rlkit import registry
from rlkit.envs.minatar import GAMES, PALETTE, MinAtarEnvMaker, planes_to_rgb, resolve_game
from rlkit.envs.state import load_vector_env_state, vector_env_state
from rlkit.networks.torsos import MinAtarCNN
from rlkit.training import checkpoint as ckpt
from tests.helpers import compose, read_jsonl, train_in_process

CHANNELS = {"asterix": 4, "breakout": 4, "freeway": 7, "seaquest": 10, "space_invaders": 6}
NOOP, LEFT, UP, RIGHT, DOWN, FIRE = range(6)


def _maker(game: str = "breakout", **kwargs) -> MinAtarEnvMaker:
    return registry.build("env", {"name": "minatar", "game": game, **kwargs})


def _play(envs, actions: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    obs, rewards, dones = [], [], []
    for a in actions:
        o, r, te, tr, _ = envs.step(a)
        obs.append(o.copy())
        rewards.append(r.copy())
        dones.append(te | tr)
    return obs, rewards, dones


@pytest.mark.parametrize("game", GAMES)
def test_observations_are_channels_first_uint8_planes(game):
    maker = _maker(game, num_envs=2)
    c = CHANNELS[game]
    assert maker.spec.obs_shape == (c, 10, 10) and maker.spec.obs_dtype == np.uint8
    spec = maker.spec
    assert (spec.num_actions, spec.frame_skip, spec.game, spec.reward_clip) == (6, 1, None, None)
    envs = maker.make_train(seed=0)
    obs, _ = envs.reset(seed=[0, 1])
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs, *_ = envs.step(rng.integers(6, size=2))
    assert obs.shape == (2, c, 10, 10) and obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1}
    game_state = envs.unwrapped.envs[0].unwrapped.game.state()  # MinAtar's own [10, 10, C] booleans
    np.testing.assert_array_equal(obs[0], game_state.transpose(2, 0, 1))
    envs.close()


def test_game_names_resolve_in_any_spelling():
    assert resolve_game("SpaceInvaders") == resolve_game("MinAtar/SpaceInvaders-v1") == "space_invaders"
    with pytest.raises(ValueError, match="closest: breakout"):
        resolve_game("breakot")
    assert _maker("Space-Invaders").spec.obs_shape == (6, 10, 10)


def test_sticky_actions_ramping_and_action_set_reach_the_game():
    maker = _maker("asterix", sticky_action_prob=0.3, difficulty_ramping=False, minimal_action_set=True)
    envs = maker.make_train(seed=0)
    game = envs.unwrapped.envs[0].unwrapped.game
    assert game.sticky_action_prob == 0.3 and game.env.ramping is False
    assert envs.single_action_space.n == len(game.minimal_action_set()) == 5
    envs.close()
    assert _maker("asterix").make_train(seed=0).unwrapped.envs[0].unwrapped.game.env.ramping is True

    def paddle_after_lefts(sticky: float) -> int:  # Breakout's paddle starts at column 4
        env = _maker(sticky_action_prob=sticky).make_train(seed=0)
        env.reset(seed=[3])
        for _ in range(3):
            obs, *_ = env.step([LEFT])
        return int(np.flatnonzero(obs[0, 0, 9])[0])  # channel 0 = paddle, bottom row

    assert paddle_after_lefts(0.0) == 1  # three moves left
    assert paddle_after_lefts(1.0) == 4  # always repeats the first "previous action", a no-op


def test_rewards_are_raw_and_clipping_is_only_a_spec_setting():
    maker = _maker("seaquest", sticky_action_prob=0.0, reward_clip=1.0)
    assert maker.spec.reward_clip == 1.0
    envs = maker.make_train(seed=0)
    envs.reset(seed=[0])
    envs.step([DOWN])
    envs.step([DOWN])
    envs.unwrapped.envs[0].unwrapped.game.env.diver_count = 6  # surfacing with 6 divers pays by oxygen left
    rewards = [float(envs.step([UP])[1][0]) for _ in range(2)]
    assert rewards == [0.0, 9.0]  # 10 * 198 // 200, not clipped to 1
    envs.close()


def test_same_step_autoreset_gives_the_real_last_observation():
    maker = _maker(sticky_action_prob=0.0, num_envs=2)
    envs, single = maker.make_train(seed=0), maker.make_eval(num_envs=1, seed=0)
    envs.reset(seed=[4, 4])
    single.reset(seed=[4])
    for step in range(200):  # no-ops: the ball leaves through the bottom
        obs, _, terminated, truncated, info = envs.step([NOOP, NOOP])
        if terminated.any():
            break
        single_obs, *_ = single.step([NOOP])
    assert terminated.all() and not truncated.any() and info["_final_obs"].all()
    last = np.stack(info["final_obs"])
    ball_row_before = np.flatnonzero(single_obs[0, 1].any(axis=1))[0]
    assert ball_row_before == 8 and last[0, 1].sum() == 1  # the real last frame: the ball just went by
    assert not np.array_equal(last[0], obs[0])
    assert obs[0, 3].sum() == 30 and obs[0, 1, 3].sum() == 1  # a new game: 3 rows of bricks, ball on row 3
    envs.close()
    single.close()


def test_time_limit_knob_truncates():
    envs = _maker("freeway", max_episode_steps=25).make_train(seed=0)
    envs.reset(seed=[0])
    flags = [envs.step([NOOP])[2:4] for _ in range(25)]  # Freeway's own limit is 2,500 steps
    assert not any(te.any() or tr.any() for te, tr in flags[:-1])
    assert flags[-1][1].all() and not flags[-1][0].any()  # truncated, not terminated
    envs.close()


def test_same_seed_same_episodes():
    actions = np.random.default_rng(1).integers(6, size=(400, 2))
    runs = []
    for seeds in ([5, 6], [5, 6], [7, 8], [2**40, 2**40 + 1]):
        envs = _maker("space_invaders", num_envs=2).make_train(seed=0)
        first, _ = envs.reset(seed=seeds)
        obs, rewards, _ = _play(envs, actions)
        runs.append((np.stack([first, *obs]), np.stack(rewards)))
        envs.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])  # another seed, other games (sticky draws, aliens' shots)
    assert runs[3][0].shape == runs[0][0].shape  # seeds past 2^32 work (MinAtar's own seed() refuses them)


@pytest.mark.parametrize("game", GAMES)
def test_snapshot_through_a_checkpoint_continues_episodes_exactly(tmp_path, game):
    rng = np.random.default_rng(2)
    maker = _maker(game, num_envs=2)
    envs = maker.make_train(seed=0)
    envs.reset(seed=[10, 11])
    _play(envs, rng.integers(6, size=(150, 2)))
    saved_obs = envs.step(rng.integers(6, size=2))[0]
    ckpt.save_checkpoint(tmp_path, 1, {"env": vector_env_state(envs), "obs": saved_obs})
    later = rng.integers(6, size=(300, 2))
    expected = _play(envs, later)
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(tmp_path).path)  # read-only, memory-mapped arrays
    other = maker.make_train(seed=1)
    other.reset(seed=[99, 98])
    load_vector_env_state(other, state["env"])
    got = _play(other, later)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(np.stack(want), np.stack(have))
    assert sum(d.sum() for d in expected[2]) > 0 or game == "freeway"  # episodes ended and restarted alike
    envs.close()
    other.close()


def test_minatar_cnn_features_no_pixel_scaling_and_gradients():
    valid, same = MinAtarCNN(obs_shape=(10, 10, 10)), MinAtarCNN(obs_shape=(4, 10, 10), padding="same")
    assert valid.out_features == 8 * 8 * 16 == 1024 and same.out_features == 10 * 10 * 16 == 1600
    planes = (torch.rand(3, 10, 10, 10) < 0.2).to(torch.uint8)
    out = valid(planes)
    assert out.shape == (3, 1024)
    torch.testing.assert_close(out, valid(planes.float()))  # 0/1 planes: no /255
    assert not torch.allclose(out, valid(planes.float() / 255))
    cfg = compose("env=minatar", "env.game=seaquest", "agent=dqn")
    from rlkit.networks.model import build_network

    net = build_network(torso_cfg=cfg.network.torso, head_cfg=cfg.network.head, layer_cfg=cfg.network.layer,
                        obs_shape=(10, 10, 10), num_actions=6)
    q = net.q_values(planes)
    assert q.shape == (3, 6)
    q.sum().backward()
    assert net.torso.conv.weight.grad is not None and net.torso.conv.weight.grad.abs().sum() > 0
    assert sum(p.numel() for p in net.parameters()) == (10 * 9 * 16 + 16) + (1024 * 6 + 6)  # conv + output layer


def test_presets_carry_revisiting_rainbow_values_and_build():
    from rlkit.training.builder import build_parts
    from rlkit.validation import validate_config

    dqn = compose("env=minatar", "agent=dqn")
    assert (dqn.network.torso.name, dqn.env.reward_clip, dqn.env.sticky_action_prob) == ("minatar_cnn", 1.0, 0.1)
    assert (dqn.train.steps, dqn.train.learning_starts_steps, dqn.train.update_every_steps) == (10_000_000, 1_000, 4)
    assert (dqn.replay.capacity, dqn.agent.batch_size, dqn.agent.target_update_every_steps) == (100_000, 32, 1_000)
    assert (dqn.optim.lr, dqn.optim.eps, dqn.agent.n_step, list(dqn.network.hidden_sizes)) == (2.5e-4, 3.125e-4, 1, [])
    assert (dqn.exploration.end, dqn.exploration.decay_steps, dqn.exploration.start_step) == (0.01, 250_000, 1_000)
    assert dqn.eval.epsilon == 0.001 and dqn.loss.kind == "huber" and dqn.agent.max_grad_norm is None
    rainbow = compose("env=minatar", "agent=rainbow")
    optim = rainbow.optim
    assert (optim.name, optim.lr, optim.eps, rainbow.agent.n_step) == ("adam", 1e-4, 3.125e-4, 3)
    output = rainbow.network.head.output
    assert (output.v_min, output.v_max, rainbow.network.layer.sigma0) == (-100, 100, 0.1)
    sampler = rainbow.replay.sampler
    assert (sampler.alpha, sampler.beta_start, sampler.beta_end, sampler.weight_norm) == (0.5, 0.5, 0.5, "batch_max")
    assert rainbow.loss.priority == "cross_entropy" and rainbow.agent.max_grad_norm is None
    assert rainbow.replay.capacity == 100_000 and rainbow.agent.target_update_every_steps == 1_000
    exact = [compose("env=minatar", "agent=dqn", "optim=adam", "network.torso.padding=same"),
             compose("env=minatar", "agent=rainbow", "exploration=epsilon", "network.torso.padding=same")]
    assert exact[0].optim.name == "adam" and exact[0].optim.eps == 3.125e-4
    assert exact[1].exploration.start == exact[1].exploration.end == 0.01
    for cfg in (dqn, rainbow, *exact):
        assert validate_config(cfg) == []
        parts = build_parts(cfg, torch.device("cpu"))
        assert parts.env_maker.spec.reward_clip == 1.0
        q = parts.agent.online.q_values(torch.zeros((2, 4, 10, 10), dtype=torch.uint8))
        assert q.shape == (2, 6)


@pytest.mark.parametrize("agent", ["dqn", "rainbow"])
def test_tiny_training_run_and_rlkit_eval_video(tmp_path, agent):
    import imageio.v2 as imageio

    from rlkit.cli.evaluate import evaluate_saved

    summary = train_in_process(
        tmp_path, "env=minatar", f"agent={agent}", "train.steps=300", "train.learning_starts_steps=100",
        "eval.every_steps=0", "eval.episodes=2", "eval.max_steps=2000", "checkpoint.every=0", "device=cpu",
        "train.log_every_steps=100",
        f"eval.video={agent == 'dqn'}",
    )
    assert summary["steps"] == 300 and summary["updates"] == (300 - 100) // 4 + 1
    names = {key for record in read_jsonl(tmp_path / "metrics.jsonl") for key in record}
    assert ("losses/td_loss" in names) and "charts/episodic_return" in names
    assert np.isfinite(summary["final_eval"]["mean"])
    if agent == "dqn":
        frames = [frame for frame in imageio.get_reader(tmp_path / "videos" / "final.mp4")]  # list(): len is inf
        assert frames and frames[0].shape == (160, 160, 3)
        result = evaluate_saved(tmp_path, {"episodes": 1, "video": True, "threads": 1, "device": "cpu"})
        frames = [frame for frame in imageio.get_reader(result["video"])]
        assert result["game"] is None and frames[0].shape == (160, 160, 3)


def test_render_paints_each_channel_in_its_palette_colour():
    planes = np.zeros((10, 10, 10), dtype=np.uint8)
    for c in range(10):
        planes[c, c, c] = 1
    planes[9, 0, 0] = 1  # overlap with channel 0: the higher channel shows
    frame = planes_to_rgb(planes)
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    for c in range(1, 10):
        assert (frame[c * 16:(c + 1) * 16, c * 16:(c + 1) * 16] == PALETTE[c]).all()
    assert (frame[:16, :16] == PALETTE[9]).all() and (frame[16:32, :16] == 0).all()
    assert len({tuple(p) for p in PALETTE}) == len(PALETTE)
    env = gym.make("rlkit/MinAtar-v0", game="seaquest", render_mode="rgb_array")
    env.reset(seed=0)
    rendered = env.render()
    colours = {tuple(p) for p in rendered.reshape(-1, 3)}
    assert rendered.shape == (160, 160, 3) and colours <= {(0, 0, 0), *map(tuple, PALETTE)} and len(colours) > 1
    env.close()


def test_validation_names_the_closest_game():
    from rlkit.validation import validate_config

    problems = validate_config(compose("env=minatar", "env.game=breakot"))
    assert [p.key for p in problems] == ["env.game"]
    assert "closest: breakout" in problems[0].message and problems[0].fix == "set env.game=breakout"
    assert validate_config(compose("env=minatar", "env.game=SpaceInvaders")) == []
    bad = validate_config(compose("env=minatar", "env.frame_skip=4", "env.sticky_action_prob=1.5", "env.id=pong"))
    assert {p.key for p in bad} == {"env.frame_skip", "env.sticky_action_prob", "env.id"}


def test_resume_continues_minatar_episodes_exactly(tmp_path):
    """2N uninterrupted vs stopped at N and resumed (the game and its RandomState are checkpointed)."""
    args = ["env=minatar", "env.game=seaquest", "agent=rainbow", "train.steps=600", "checkpoint.every=300",
            "checkpoint.keep_last=0", "checkpoint.keep_after_finish=true", "train.learning_starts_steps=100",
            "eval.every_steps=0", "eval.episodes=1", "eval.max_steps=500", "device=cpu"]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_in_process(full, *args)
    state = ckpt.load_checkpoint(full / "checkpoints" / "step_000000000300")
    assert state["episodes"]["lengths"].max() > 0 and state["env"]["envs"][0]["own"]["game"]
    name = "step_000000000300"
    shutil.copytree(full / "checkpoints" / name, resumed / "checkpoints" / name)
    shutil.copy(full / "config.yaml", resumed / "config.yaml")
    train_in_process(resumed, *args)
    wa, wb = (torch.load(run / "model.pt", weights_only=True) for run in (full, resumed))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    returns = [[r["charts/episodic_return"] for r in read_jsonl(run / "metrics.jsonl") if "charts/episodic_return" in r]
               for run in (full, resumed)]
    assert returns[1] and returns[1] == returns[0][-len(returns[1]):]  # the episodes after N, alike
