"""What the rest of rlkit needs to know about an environment family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EnvSpec:
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    num_actions: int
    frame_skip: int = 1  # emulator frames per agent step (1 for control tasks, 4 for Atari)
    reward_clip: float | None = None  # the learner clips rewards to [-c, c]; envs always return raw rewards
    game: str | None = None  # ale-py ROM id (snake_case, e.g. "ms_pacman") for human-normalised scores
    reward_threshold: float | None = None  # raw episodic return that counts as solved (gymnasium's registry)


class EnvMaker(Protocol):
    """Builds vector envs for training and evaluation.

    Contract of the vector envs (training and evaluation alike):

    * gymnasium ``SAME_STEP`` autoreset: ``obs, rewards, terminated, truncated, info = envs.step(a)``;
      where an env's episode ended, ``obs`` is the next episode's first observation and
      ``info["final_obs"]`` (object array ``[E]``) holds the real last one where
      ``info["_final_obs"]`` (bool ``[E]``) is set.
    * ``rewards`` (float64 ``[E]``) are the raw game rewards, always. ``spec.reward_clip`` (or None)
      tells the learner to clip them; episode statistics use the raw values.
    * ``terminated`` is the learner's terminal: no bootstrap. With life-loss terminals (Atari,
      ``life_loss_terminal=True``) it is also set when a life is lost while the game goes on: that
      env is not reset, ``obs`` continues the game and ``final_obs`` equals ``obs`` there.
      ``truncated`` is a time limit / frame cap: bootstrap from ``final_obs``.
    * ``info["game_over"]`` (bool ``[E]``, Atari) marks the real end of a game (all lives lost, or
      the frame cap); episode returns and lengths are counted per game. Makers without it end
      episodes at ``terminated | truncated``.
    * Observations have ``spec.obs_shape`` and ``spec.obs_dtype``; Atari frames are uint8
      ``[stack, H, W]`` with the newest frame last, zero-padded right after a reset.

    ``make_eval`` envs play whole games (no life-loss terminals) with the same observations.
    """

    spec: EnvSpec
    num_envs: int

    def make_train(self, *, seed: int, num_envs: int | None = None) -> gym.vector.VectorEnv:
        """``num_envs`` training envs (default: the maker's ``num_envs``; pipelined acting builds groups)."""
        ...

    def make_eval(self, *, num_envs: int, seed: int) -> gym.vector.VectorEnv: ...
