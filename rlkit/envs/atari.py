"""Atari 2600 games through ale-py: a native threaded vector env for training, gymnasium wrappers
for evaluation and video, with the same observations.

Training: ``ale_py.AtariVectorEnv`` (C++ thread pool, preprocessing built in) behind
:class:`AtariVectorAdapter`, which turns its outputs into rlkit's env contract (see
:class:`rlkit.envs.spec.EnvMaker`). Evaluation / video: ``gym.make("ALE/<Game>-v5", frameskip=1)``
+ ``AtariPreprocessing`` + ``FrameStackObservation(padding_type="zero")``, whole games.

Both paths, same knobs: for one seed and action sequence with ``sticky_action_prob=0`` and
``noop_max=0`` they produce identical frame stacks, rewards and terminals (tests/unit/test_atari_env.py).
Where they can differ:

* ALE seeding: ``AtariVectorEnv`` seeds the emulator with ``seed``; gymnasium's ``AtariEnv`` with a
  value derived from ``seed`` by ``np.random.SeedSequence``; sticky-action draws therefore differ.
* No-op starts: ``AtariVectorEnv`` draws ``U{0..noop_max-1}`` no-op frames (one fewer after a FIRE
  reset); ``AtariPreprocessing`` draws ``U{1..noop_max}`` (DQN's convention) from its own RNG.
* Frame cap: ``AtariVectorEnv`` counts frames after the reset no-ops; ALE's
  ``max_num_frames_per_episode`` (evaluation path) counts them too, so the cap can come up to
  ``noop_max`` (+1 with FIRE) frames earlier there.

Life loss: the vector env runs with ``life_loss_info=False`` (its ``terminated`` is then the real
game over) and the adapter derives DeepMind-style life-loss terminals from ``info["lives"]``
exactly as ale-py does (lives went down and are still > 0), so ``info["game_over"]`` stays exact.
ale-py's own ``life_loss_info=True`` gives the same ``terminated`` (checked in the tests) but cannot
tell a life loss from a game over, and its ``final_obs`` at a life loss holds a stale frame stack.
"""

from __future__ import annotations

import logging
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from rlkit.envs.spec import EnvSpec
from rlkit.registry import register
from rlkit.utils.atari_games import ale_env_id, resolve_ale_game, squash
from rlkit.utils.runtime import available_cores

log = logging.getLogger(__name__)

gym.register_envs(ale_py)


def _channels_first(obs: np.ndarray) -> np.ndarray:
    """RGB stacks ``[..., stack, H, W, 3]`` -> ``[..., stack * 3, H, W]`` (newest frame's channels last)."""
    moved = np.moveaxis(obs, -1, -3)  # [..., stack, 3, H, W]
    return np.ascontiguousarray(moved.reshape(*moved.shape[:-4], -1, *moved.shape[-2:]))


class AtariVectorAdapter(gym.vector.VectorWrapper):
    """``ale_py.AtariVectorEnv`` (SameStep autoreset, ``life_loss_info=False``, raw rewards) -> rlkit's contract.

    Adds ``info["game_over"]``, ``info["life_loss"]`` and gymnasium's ``final_obs``/``_final_obs``
    (object array + mask); turns ``terminated`` into the learner's terminal when
    ``life_loss_terminal``; rewards become float64; seeds may be a list.
    """

    def __init__(self, env: gym.vector.VectorEnv, *, life_loss_terminal: bool, rgb: bool) -> None:
        super().__init__(env)
        self.life_loss_terminal = life_loss_terminal
        self.rgb = rgb
        self._lives = np.zeros(self.num_envs, dtype=np.int64)
        if rgb:
            stack, h, w, c = env.single_observation_space.shape
            self.single_observation_space = gym.spaces.Box(0, 255, (stack * c, h, w), np.uint8)
            self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return _channels_first(obs) if self.rgb else obs

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, (list, tuple)):
            seed = np.asarray(seed, dtype=np.int64)
        obs, info = self.env.reset(seed=seed, options=options)
        mask = None if options is None else options.get("reset_mask")
        if mask is None:
            self._lives[:] = info["lives"]
        else:
            self._lives[mask] = np.asarray(info["lives"])[mask]
        return self._obs(obs), dict(info)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.send(actions)
        return self.recv()

    def send(self, actions: Any) -> None:
        """Start a step in ale-py's worker threads and return at once (pipelining: act on other envs meanwhile)."""
        actions = np.asarray(actions)
        if actions.dtype not in (np.int32, np.int64):
            actions = actions.astype(np.int64)
        self.env.send(actions)

    def recv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Wait for the step started by :meth:`send`; the same outputs as :meth:`step`."""
        obs, rewards, terminated, truncated, raw_info = self.env.recv()
        game_over = terminated | truncated  # with life_loss_info=False, ALE's terminated is the real game over
        lives = np.asarray(raw_info["lives"])
        life_loss = (lives < self._lives) & (lives > 0) & ~game_over
        self._lives[:] = lives  # after an autoreset: the new game's lives
        if self.life_loss_terminal:
            terminated = terminated | life_loss
        done = terminated | truncated
        obs = self._obs(obs)
        info = {k: v for k, v in raw_info.items() if k != "final_obs"}
        info["game_over"] = game_over
        info["life_loss"] = life_loss
        if done.any():
            final = np.empty(self.num_envs, dtype=object)
            ended = raw_info.get("final_obs")
            for i in np.flatnonzero(done):
                # a reset env's real last stack is ALE's final_obs; a life loss continues: its obs
                final[i] = self._obs(np.array(ended[i])) if game_over[i] else obs[i]  # own copy
            info["final_obs"] = final
            info["_final_obs"] = done
        return obs, rewards.astype(np.float64), terminated, truncated, info


class GameOverInfo(gym.vector.VectorWrapper):
    """Evaluation envs play whole games: ``info["game_over"] = terminated | truncated``."""

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        info = dict(info)
        info["game_over"] = terminated | truncated
        return obs, np.asarray(rewards, dtype=np.float64), terminated, truncated, info


class FireOnReset(gym.Wrapper):
    """Presses FIRE for one frame after each reset, before the no-ops: ale-py's ``use_fire_reset``."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        ale = self.env.unwrapped.ale
        ale.act(ale_py.Action.FIRE)
        if ale.game_over():  # never in practice; keep the episode valid anyway
            obs, info = self.env.reset(**kwargs)
        return obs, info


class _NoPoolPreprocessing(AtariPreprocessing):
    """``AtariPreprocessing`` keeps only the last frame of each skip (ale-py's ``maxpool=False``)."""

    def _get_obs(self) -> np.ndarray:
        self.obs_buffer[1].fill(0)  # max(frame, 0) == frame
        return super()._get_obs()


class ChannelsFirst(gym.ObservationWrapper):
    """RGB frame stacks ``[stack, H, W, 3]`` -> ``[stack * 3, H, W]``, as the training path gives them."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        stack, h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (stack * c, h, w), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return _channels_first(np.asarray(observation))


@register("env", "atari")
class AtariEnvMaker:
    """Atari games under an evaluation protocol; every knob is explicit (see conf/env/atari_*.yaml).

    Units: ``max_episode_frames`` counts emulator frames; an agent step is ``frame_skip`` frames.
    """

    def __init__(
        self,
        *,
        game: str,
        id: str | None = None,
        num_envs: int = 1,
        num_threads: int | None = None,
        frame_skip: int = 4,
        max_pool: bool = True,
        screen_size: int = 84,
        grayscale: bool = True,
        stack: int = 4,
        noop_max: int = 30,
        sticky_action_prob: float = 0.25,
        full_action_space: bool = False,
        life_loss_terminal: bool = False,
        fire_reset: bool = False,
        reward_clip: float | None = 1.0,
        max_episode_frames: int = 108_000,
        eval_num_envs: int = 1,
    ) -> None:
        self.game = resolve_ale_game(game)
        if id is not None and squash(id) != squash(self.game):
            raise ValueError(f"env.id {id!r} names another game than env.game {game!r} ({self.game})")
        self.id = id if id is not None else self.game
        for name, value, low in (("num_envs", num_envs, 1), ("frame_skip", frame_skip, 1), ("stack", stack, 1),
                                 ("screen_size", screen_size, 1), ("noop_max", noop_max, 0),
                                 ("max_episode_frames", max_episode_frames, 1), ("eval_num_envs", eval_num_envs, 1)):
            if int(value) < low:
                raise ValueError(f"env.{name} must be >= {low}, got {value}")
        if not 0.0 <= float(sticky_action_prob) <= 1.0:
            raise ValueError(f"env.sticky_action_prob must be in [0, 1], got {sticky_action_prob}")
        if reward_clip is not None and float(reward_clip) <= 0:
            raise ValueError(f"env.reward_clip must be > 0 or null, got {reward_clip}")
        cores = available_cores()
        if num_threads is None:
            num_threads = min(cores, num_envs)
        elif num_threads > cores:
            log.warning("env.num_threads=%d > %d available cores: using %d", num_threads, cores, cores)
            num_threads = cores
        self.num_envs = int(num_envs)
        self.num_threads = max(1, int(num_threads))
        self.frame_skip = int(frame_skip)
        self.max_pool = bool(max_pool)
        self.screen_size = int(screen_size)
        self.grayscale = bool(grayscale)
        self.stack = int(stack)
        self.noop_max = int(noop_max)
        self.sticky_action_prob = float(sticky_action_prob)
        self.full_action_space = bool(full_action_space)
        self.life_loss_terminal = bool(life_loss_terminal)
        self.fire_reset = bool(fire_reset)
        self.reward_clip = None if reward_clip is None else float(reward_clip)
        self.max_episode_frames = int(max_episode_frames)
        self.eval_num_envs = int(eval_num_envs)

        actions = self._action_set()
        self.has_fire = ale_py.Action.FIRE in actions
        size = self.screen_size
        obs_shape = (self.stack, size, size) if self.grayscale else (self.stack * 3, size, size)
        self.spec = EnvSpec(
            obs_shape=obs_shape,
            obs_dtype=np.dtype(np.uint8),
            num_actions=len(actions),
            frame_skip=self.frame_skip,
            reward_clip=self.reward_clip,
            game=self.game,
        )

    def _action_set(self) -> list[Any]:
        ale = ale_py.ALEInterface()
        ale.setLoggerMode(ale_py.LoggerMode.Error)
        ale.loadROM(ale_py.roms.get_rom_path(self.game))
        return list(ale.getLegalActionSet() if self.full_action_space else ale.getMinimalActionSet())

    # ------------------------------------------------------------------------------ training
    def make_train(self, *, seed: int, num_envs: int | None = None) -> gym.vector.VectorEnv:
        """ale-py's threaded vector env of ``num_envs`` (default ``env.num_envs``) envs; the caller
        resets it with per-env seeds. A part of the envs (a pipelining group) gets its share of
        ``env.num_threads``, so the groups together use no more threads than one vector env would."""
        num_envs = self.num_envs if num_envs is None else int(num_envs)
        threads = max(1, min(num_envs, self.num_threads * num_envs // self.num_envs))
        envs = ale_py.AtariVectorEnv(
            self.game,
            num_envs,
            num_threads=threads,
            max_num_frames_per_episode=self.max_episode_frames,
            repeat_action_probability=self.sticky_action_prob,
            full_action_space=self.full_action_space,
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
            img_height=self.screen_size,
            img_width=self.screen_size,
            grayscale=self.grayscale,
            stack_num=self.stack,
            frameskip=self.frame_skip,
            maxpool=self.max_pool,
            noop_max=self.noop_max,
            episodic_life=False,  # would reset the whole game at every life loss
            life_loss_info=False,  # life-loss terminals come from the adapter (exact game_over)
            reward_clipping=False,  # raw rewards out; the learner clips (spec.reward_clip)
            use_fire_reset=self.fire_reset,  # ale-py's default is True
        )
        adapted = AtariVectorAdapter(envs, life_loss_terminal=self.life_loss_terminal, rgb=not self.grayscale)
        adapted.action_space.seed(seed)
        return adapted

    # ---------------------------------------------------------------------- evaluation / video
    def make_single(self, *, render_mode: str | None = None) -> gym.Env:
        """One gymnasium env with the training path's observations; whole games (no life-loss terminals)."""
        env = gym.make(
            ale_env_id(self.game),
            frameskip=1,
            repeat_action_probability=self.sticky_action_prob,
            full_action_space=self.full_action_space,
            max_num_frames_per_episode=self.max_episode_frames,
            render_mode=render_mode,
        )
        if self.fire_reset and self.has_fire:
            env = FireOnReset(env)
        preprocessing = AtariPreprocessing if self.max_pool else _NoPoolPreprocessing
        env = preprocessing(
            env,
            noop_max=self.noop_max,
            frame_skip=self.frame_skip,
            screen_size=self.screen_size,
            terminal_on_life_loss=False,
            grayscale_obs=self.grayscale,
        )
        env = FrameStackObservation(env, self.stack, padding_type="zero")  # AtariVectorEnv pads with zeros
        if not self.grayscale:
            env = ChannelsFirst(env)
        return env

    def make_eval(self, *, num_envs: int | None = None, seed: int) -> gym.vector.VectorEnv:
        """``num_envs`` (default ``eval_num_envs``) gymnasium envs in one process, SAME_STEP autoreset."""
        n = self.eval_num_envs if num_envs is None else int(num_envs)
        envs = gym.vector.SyncVectorEnv(
            [self.make_single for _ in range(n)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        envs = GameOverInfo(envs)
        envs.action_space.seed(seed)
        return envs

    def __repr__(self) -> str:
        return f"AtariEnvMaker(game={self.game!r}, num_envs={self.num_envs}, sticky={self.sticky_action_prob})"


__all__ = ["AtariEnvMaker", "AtariVectorAdapter", "squash"]
