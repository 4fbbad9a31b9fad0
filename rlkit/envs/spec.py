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
    frame_skip: int  # emulator frames per agent step (1 for control tasks)


class EnvMaker(Protocol):
    """Builds vector envs for training and evaluation.

    Vector envs use gymnasium's ``SAME_STEP`` autoreset: when an episode ends, ``step`` returns
    the first observation of the next episode and ``info["final_obs"]`` holds the real last one.
    """

    spec: EnvSpec
    num_envs: int

    def make_train(self, *, seed: int) -> gym.vector.VectorEnv: ...

    def make_eval(self, *, num_envs: int, seed: int) -> gym.vector.VectorEnv: ...
