"""Atari env maker: the env contract (raw rewards, life-loss terminals, game_over, final_obs),
protocol knobs, train/eval observation parity, frame cap, video, human-normalised scores."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ale_py
import numpy as np
import pytest
from omegaconf import OmegaConf

from rlkit.analysis.hns import atari57_games, human_normalized_score
from rlkit.envs.atari import AtariEnvMaker
from rlkit.utils.atari_games import UnknownGameError, resolve_ale_game

CONF = Path(__file__).resolve().parents[2] / "conf"
EXACT = {"sticky_action_prob": 0.0, "noop_max": 0, "fire_reset": False}  # deterministic: both paths agree


def _real_next(obs: np.ndarray, info: dict) -> np.ndarray:
    out = obs.copy()
    for i in np.flatnonzero(info.get("_final_obs", np.zeros(len(obs), bool))):
        out[i] = info["final_obs"][i]
    return out


def test_maker_builds_pong_with_uint8_frame_stacks():
    maker = AtariEnvMaker(game="Pong", num_envs=2)
    spec = maker.spec
    assert (spec.obs_shape, spec.obs_dtype, spec.num_actions) == ((4, 84, 84), np.uint8, 6)
    assert (spec.frame_skip, spec.reward_clip, spec.game, maker.id) == (4, 1.0, "pong", "pong")
    assert 1 <= maker.num_threads <= 2
    for envs in (maker.make_train(seed=0), maker.make_eval(num_envs=2, seed=0)):
        obs, _ = envs.reset(seed=[0, 1])
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        assert not obs[:, :3].any() and obs[:, 3].any()  # zero padding before the first frame, newest last
        obs, rewards, _, _, info = envs.step(np.array([0, 1]))
        assert obs.shape == (2, 4, 84, 84) and rewards.dtype == np.float64
        assert info["game_over"].dtype == bool and info["game_over"].shape == (2,)
        envs.close()


def test_rewards_are_raw_and_the_spec_tells_the_learner_to_clip():
    maker = AtariEnvMaker(game="space_invaders", num_envs=2, **EXACT)
    envs = maker.make_train(seed=0)
    envs.reset(seed=[0, 1])
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(300):
        _, rewards, *_ = envs.step(rng.integers(0, maker.spec.num_actions, 2))
        seen.extend(rewards[rewards != 0])
        if seen and max(seen) > 1:
            break
    envs.close()
    assert max(seen) > 1  # Space Invaders pays 5-30 points per alien: not clipped by the env
    assert maker.spec.reward_clip == 1.0
    assert np.clip(np.array(seen), -maker.spec.reward_clip, maker.spec.reward_clip).max() == 1.0
    assert AtariEnvMaker(game="pong", reward_clip=None).spec.reward_clip is None


def _play_breakout(life_loss_terminal: bool, steps: int = 1_500):
    maker = AtariEnvMaker(game="breakout", num_envs=2, life_loss_terminal=life_loss_terminal, **EXACT)
    envs = maker.make_train(seed=0)
    obs, info = envs.reset(seed=[0, 1])
    rng = np.random.default_rng(1)
    prev_frame = np.asarray(info["episode_frame_number"]).copy()
    events = []
    for _ in range(steps):
        nxt, _, terminated, truncated, info = envs.step(rng.integers(0, 4, 2))
        events.append((obs, nxt, terminated, truncated, info, prev_frame))
        prev_frame = np.asarray(info["episode_frame_number"]).copy()
        obs = nxt
    envs.close()
    return events


def test_life_loss_is_a_learner_terminal_while_the_game_goes_on():
    life_losses = game_overs = 0
    for obs, nxt, terminated, truncated, info, prev_frame in _play_breakout(True):
        for i in np.flatnonzero(terminated):
            assert info["_final_obs"][i]
            if info["game_over"][i]:  # real end: the env was reset, final_obs is the old game's last stack
                game_overs += 1
                assert info["lives"][i] == 5 and info["episode_frame_number"][i] < prev_frame[i]
                assert not np.array_equal(info["final_obs"][i], nxt[i])
                np.testing.assert_array_equal(info["final_obs"][i][:3], obs[i][1:])  # continues the old stack
            else:  # life lost: same game continues, final_obs is the continuing obs
                life_losses += 1
                assert info["life_loss"][i] and 0 < info["lives"][i] < 5
                assert info["episode_frame_number"][i] == prev_frame[i] + 4
                np.testing.assert_array_equal(info["final_obs"][i], nxt[i])
                np.testing.assert_array_equal(nxt[i][:3], obs[i][1:])
        assert not (info["game_over"] & ~(terminated | truncated)).any()
    assert life_losses >= 8 and game_overs >= 2


def test_without_life_loss_terminals_only_game_over_terminates():
    life_losses = 0
    for _, _, terminated, truncated, info, _ in _play_breakout(False, steps=600):
        np.testing.assert_array_equal(terminated | truncated, info["game_over"])
        life_losses += int(info["life_loss"].sum())
    assert life_losses >= 4


def test_life_loss_terminals_match_ale_life_loss_info():
    """Our derived terminals equal ale-py's own life_loss_info=True terminals, step for step."""
    ours = [t for _, _, t, *_ in _play_breakout(True, steps=700)]
    ale = ale_py.AtariVectorEnv("breakout", 2, num_threads=1, autoreset_mode="SameStep", reward_clipping=False,
                                life_loss_info=True, noop_max=0, repeat_action_probability=0.0, use_fire_reset=False)
    ale.reset(seed=np.array([0, 1]))
    rng = np.random.default_rng(1)
    theirs = [ale.step(rng.integers(0, 4, 2))[2] for _ in range(700)]
    ale.close()
    np.testing.assert_array_equal(np.array(ours), np.array(theirs))


def test_sticky_actions_reach_both_paths():
    def observations(maker, seed_actions: int, path: str):
        envs = maker.make_train(seed=0) if path == "train" else maker.make_eval(num_envs=1, seed=0)
        envs.reset(seed=[0])
        rng = np.random.default_rng(seed_actions)
        out = [envs.step(rng.integers(1, maker.spec.num_actions, 1))[0] for _ in range(60)]
        envs.close()
        return np.array(out)

    for path in ("train", "eval"):
        always = AtariEnvMaker(game="pong", sticky_action_prob=1.0, noop_max=0)  # the first action (NOOP) forever
        np.testing.assert_array_equal(observations(always, 1, path), observations(always, 2, path))
        never = AtariEnvMaker(game="pong", sticky_action_prob=0.0, noop_max=0)
        assert not np.array_equal(observations(never, 1, path), observations(never, 2, path))
    env = AtariEnvMaker(game="pong", sticky_action_prob=0.25).make_single()
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    env.close()


def test_noop_starts_and_fire_reset_reach_the_env():
    def reset_frames(num_envs=2, **knobs):
        envs = AtariEnvMaker(game="breakout", num_envs=num_envs, sticky_action_prob=0.0, **knobs).make_train(seed=0)
        _, info = envs.reset(seed=list(range(num_envs)))
        envs.close()
        return np.asarray(info["episode_frame_number"])

    assert (reset_frames(noop_max=0, fire_reset=False) == 0).all()
    assert (reset_frames(noop_max=0, fire_reset=True) == 1).all()  # one FIRE frame
    frames = reset_frames(6, noop_max=30, fire_reset=False)
    assert frames.max() <= 29 and len(set(frames.tolist())) > 2  # U{0..29} no-op frames per env
    eval_env = AtariEnvMaker(game="breakout", noop_max=30, fire_reset=True).make_single()
    lengths = set()
    for seed in range(6):
        _, info = eval_env.reset(seed=seed)
        lengths.add(int(info["episode_frame_number"]))
    eval_env.close()
    assert max(lengths) <= 31 and len(lengths) > 2  # FIRE + U{1..30} no-ops (AtariPreprocessing)


def test_unknown_game_lists_close_names():
    with pytest.raises(UnknownGameError, match="closest: pong"):
        AtariEnvMaker(game="pongg")
    with pytest.raises(ValueError, match="ms_pacman"):
        AtariEnvMaker(game="ms_pacmann")
    assert resolve_ale_game("ALE/MsPacman-v5") == resolve_ale_game("MsPacmanNoFrameskip-v4") == "ms_pacman"
    with pytest.raises(ValueError, match="another game"):
        AtariEnvMaker(game="pong", id="breakout")


@pytest.mark.parametrize(("game", "steps"), [("pong", 300), ("breakout", 400)])
def test_train_and_eval_paths_give_identical_observations(game, steps):
    """Same seed and actions, no sticky actions, no no-ops: ale-py's C++ preprocessing equals
    gymnasium's AtariPreprocessing + FrameStackObservation, bit for bit, across game overs."""
    maker = AtariEnvMaker(game=game, **EXACT)
    train, evaluation = maker.make_train(seed=0), maker.make_eval(num_envs=1, seed=0)
    a, _ = train.reset(seed=[7])
    b, _ = evaluation.reset(seed=[7])
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(steps):
        actions = rng.integers(0, maker.spec.num_actions, 1)
        a, ra, ta, ua, ia = train.step(actions)
        b, rb, tb, ub, ib = evaluation.step(actions)
        np.testing.assert_array_equal(_real_next(a, ia), _real_next(b, ib))
        np.testing.assert_array_equal(a, b)
        assert (ra, ta, ua) == (rb, tb, ub) and (ia["game_over"] == ib["game_over"]).all()
        ends += int(ia["game_over"][0])
    train.close()
    evaluation.close()
    if game == "breakout":
        assert ends >= 1  # a reset was crossed


def test_rgb_observations_are_channels_first_in_both_paths():
    maker = AtariEnvMaker(game="pong", grayscale=False, **EXACT)
    assert maker.spec.obs_shape == (12, 84, 84)
    train, evaluation = maker.make_train(seed=0), maker.make_eval(num_envs=1, seed=0)
    a, _ = train.reset(seed=[0])
    b, _ = evaluation.reset(seed=[0])
    for _ in range(5):
        a, *_ = train.step(np.array([2]))
        b, *_ = evaluation.step(np.array([2]))
    assert a.shape == b.shape == (1, 12, 84, 84)
    np.testing.assert_array_equal(a, b)
    train.close()
    evaluation.close()


def test_frame_cap_truncates_and_ends_the_game():
    maker = AtariEnvMaker(game="pong", max_episode_frames=200, **EXACT)  # 200 frames = 50 agent steps
    for envs in (maker.make_train(seed=0), maker.make_eval(num_envs=1, seed=0)):
        envs.reset(seed=[0])
        for step in range(1, 51):
            obs, _, terminated, truncated, info = envs.step(np.array([0]))
            assert not terminated[0]
            assert truncated[0] == info["game_over"][0] == (step == 50), step
        assert info["_final_obs"][0] and info["final_obs"][0].shape == (4, 84, 84)
        assert not obs[0, :3].any()  # the next game starts with a zero-padded stack
        envs.close()


def test_video_writes_a_playable_mp4(tmp_path):
    import imageio_ffmpeg

    from rlkit.envs.video import record_episodes

    class RandomAgent:
        def __init__(self, n: int) -> None:
            self.n, self.rng, self.shapes = n, np.random.default_rng(0), set()

        def act_eval(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
            self.shapes.add(obs.shape)
            return self.rng.integers(0, self.n, len(obs))

    maker = AtariEnvMaker(game="pong", max_episode_frames=400)
    agent = RandomAgent(maker.spec.num_actions)
    path = tmp_path / "video" / "pong.mp4"
    returns = record_episodes(agent, maker, path, episodes=2, epsilon=0.05, seed=0)
    assert len(returns) == 2 and agent.shapes == {(1, 4, 84, 84)}
    data = path.read_bytes()
    assert len(data) > 1_000 and data[4:8] == b"ftyp"
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                             check=False, capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr


def test_human_normalized_scores_by_hand():
    assert len(atari57_games()) == 57
    assert human_normalized_score("pong", 0.0) == pytest.approx(20.7 / 35.3)  # random -20.7, human 14.6
    assert human_normalized_score("Breakout", 30.5) == pytest.approx(1.0)
    assert human_normalized_score("ALE/Breakout-v5", 1.7) == pytest.approx(0.0)
    assert human_normalized_score("MsPacmanNoFrameskip-v4", 307.3 + (6951.6 - 307.3) / 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="closest: montezuma_revenge"):
        human_normalized_score("montezumas_revenge", 0.0)
    with pytest.raises(ValueError, match="pitfall"):
        human_normalized_score("pitfall2", 0.0)  # an ALE ROM, but not one of the 57


def test_protocol_presets_set_every_knob_and_compose():
    from tests.helpers import compose

    knobs = set(AtariEnvMaker.__init__.__kwdefaults__) | {"game"}
    # composed: the protocol files extend env/atari_base.yaml (tests/config/test_atari_env_base.py)
    presets = {name: compose(f"env={name}").env for name in ("atari", "atari_machado2018", "atari_dqn2015")}
    for name, node in presets.items():
        assert set(node) - {"name"} == knobs, name
    default, machado = (OmegaConf.to_container(presets[n]) for n in ("atari", "atari_machado2018"))
    assert default == machado  # the default protocol is Machado et al. 2018
    dqn = presets["atari_dqn2015"]
    assert (dqn.sticky_action_prob, dqn.noop_max, dqn.life_loss_terminal, dqn.reward_clip) == (0.0, 30, True, 1.0)
    assert (machado["sticky_action_prob"], machado["life_loss_terminal"]) == (0.25, False)
    for preset in presets:
        cfg = compose(f"env={preset}", "env.game=breakout")
        assert cfg.env.id == "breakout" and cfg.run_name.startswith("breakout_")
        assert cfg.network.torso.name == "nature_cnn" and cfg.replay.storage.name == "frame_stack"
        assert cfg.env.max_episode_frames == 108_000
    assert compose("env=atari", "network/torso=der_cnn").network.torso.name == "der_cnn"  # the CLI still wins
