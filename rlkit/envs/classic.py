"""Any registered gymnasium environment with a discrete action space (CartPole, Acrobot, ...)."""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlkit.envs.spec import EnvSpec
from rlkit.registry import register


@register("env", "gym")
class GymEnvMaker:
    """Vectorised ``gym.make_vec`` envs; ``sync`` runs them in this process (no oversubscription),
    ``async`` in one worker process each."""

    def __init__(
        self,
        *,
        id: str,
        num_envs: int = 1,
        vectorization: Literal["sync", "async"] = "sync",
        frame_skip: int = 1,
        max_episode_steps: int | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"env.num_envs must be >= 1, got {num_envs}")
        self.id = id
        self.num_envs = num_envs
        self.vectorization = vectorization
        self.max_episode_steps = max_episode_steps
        self.kwargs = dict(kwargs or {})
        probe = gym.make(id, **self._make_kwargs())
        try:
            if not isinstance(probe.action_space, gym.spaces.Discrete):
                raise ValueError(f"{id}: rlkit's value-based agents need a Discrete action space, got {probe.action_space}")
            space = probe.observation_space
            self.spec = EnvSpec(
                obs_shape=tuple(space.shape),
                obs_dtype=np.dtype(space.dtype),
                num_actions=int(probe.action_space.n),
                frame_skip=frame_skip,
                reward_threshold=probe.spec.reward_threshold if probe.spec is not None else None,
            )
        finally:
            probe.close()

    def _make_kwargs(self) -> dict[str, Any]:
        kw = dict(self.kwargs)
        if self.max_episode_steps is not None:
            kw["max_episode_steps"] = self.max_episode_steps
        return kw

    def _make(self, num_envs: int, seed: int, mode: str) -> gym.vector.VectorEnv:
        envs = gym.make_vec(
            self.id,
            num_envs=num_envs,
            vectorization_mode=mode,
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            **self._make_kwargs(),
        )
        envs.action_space.seed(seed)
        return envs  # the caller resets with per-env seeds

    def make_train(self, *, seed: int, num_envs: int | None = None) -> gym.vector.VectorEnv:
        """``num_envs`` (default ``env.num_envs``) envs; the caller resets them with per-env seeds."""
        return self._make(self.num_envs if num_envs is None else int(num_envs), seed, self.vectorization)

    def make_eval(self, *, num_envs: int, seed: int) -> gym.vector.VectorEnv:
        return self._make(num_envs, seed, "sync")
