"""n-step transitions for E environments stepping in lockstep (Sutton 1988; Hessel et al. 2018).

Each emitted row carries ``G = sum_{k<m} gamma^k r_{t+k}`` and ``discount = gamma^m`` (0 when the
episode terminated inside the window), so the learner's target is always
``G + discount * bootstrap(next_obs)``. Truncation (time limit) is not termination: the partial
returns bootstrap from the final observation with ``gamma^m`` for their own ``m <= n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Transitions:
    """Rows ready for :meth:`rlkit.replay.buffer.ReplayBuffer.add`, all with leading dim K."""

    obs: np.ndarray  # [K, *obs_shape]
    actions: np.ndarray  # [K] int64
    rewards: np.ndarray  # [K] float32 n-step discounted returns
    next_obs: np.ndarray  # [K, *obs_shape] bootstrap observations
    discounts: np.ndarray  # [K] float32 gamma^m, or 0 after termination

    def __len__(self) -> int:
        return int(self.actions.shape[0])


class NStepAccumulator:
    """Per-env windows of the last ``n`` (obs, action, reward), emitted as n-step transitions.

    Per env and step: append the new entry; if the episode ended (terminated or truncated), emit
    every pending entry and clear the window; otherwise, once it holds ``n`` entries, emit the
    oldest. Rows are ordered env by env, oldest first. ``n = 1`` gives plain one-step transitions.
    """

    def __init__(self, *, num_envs: int, n: int, gamma: float) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        self.num_envs = int(num_envs)
        self.n = int(n)
        self.gamma = float(gamma)
        # kernel[k, j] = gamma^(j - k) for j >= k: returns[e, k] = sum_j rewards[e, j] kernel[k, j]
        offsets = np.arange(self.n)[None, :] - np.arange(self.n)[:, None]  # [n, n]
        self._kernel = np.where(offsets >= 0, self.gamma ** np.maximum(offsets, 0), 0.0)
        self._gamma_pow = self.gamma ** np.arange(self.n + 1, dtype=np.float64)  # [n + 1]
        self._obs: np.ndarray | None = None  # [E, n, *obs_shape], allocated on the first step
        self._actions = np.zeros((self.num_envs, self.n), dtype=np.int64)  # [E, n] ring
        self._rewards = np.zeros((self.num_envs, self.n), dtype=np.float64)  # [E, n] ring
        self._start = np.zeros(self.num_envs, dtype=np.int64)  # [E] ring slot of the oldest entry
        self._length = np.zeros(self.num_envs, dtype=np.int64)  # [E] pending entries

    @property
    def pending(self) -> np.ndarray:
        """Number of entries waiting in each env's window, int64 [E]."""
        return self._length.copy()

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Drop the pending windows (all envs, or only ``env_ids``) without emitting them."""
        ids = slice(None) if env_ids is None else np.asarray(env_ids, dtype=np.int64)
        self._start[ids] = 0
        self._length[ids] = 0

    def step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions | None:
        """Record one vector-env step; returns the completed transitions, or None if none are."""
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        self._check_inputs(obs, actions, rewards, next_obs, terminated, truncated)
        num_envs, n = self.num_envs, self.n
        if self._obs is None:
            self._obs = np.zeros((num_envs, n, *obs.shape[1:]), dtype=obs.dtype)
        envs = np.arange(num_envs)

        # 1. append the new entry to every env's window
        slot = (self._start + self._length) % n  # [E]
        self._obs[envs, slot] = obs
        self._actions[envs, slot] = actions
        self._rewards[envs, slot] = rewards
        self._length += 1

        # 2. returns of every pending entry, oldest first (entries past length are zero)
        order = (self._start[:, None] + np.arange(n)[None, :]) % n  # [E, n] ring slot of k-th oldest
        valid = np.arange(n)[None, :] < self._length[:, None]  # [E, n]
        ordered_rewards = np.where(valid, self._rewards[envs[:, None], order], 0.0)  # [E, n]
        returns = ordered_rewards @ self._kernel.T  # [E, n]
        steps = self._length[:, None] - np.arange(n)[None, :]  # [E, n] m: rewards in each return

        # 3. which entries complete now: all of an ended episode, else the oldest of a full window
        ended = terminated | truncated  # [E]
        full = ~ended & (self._length == n)  # [E]
        emit = valid & ended[:, None]  # [E, n]
        emit[:, 0] |= full
        env_rows, k_rows = np.nonzero(emit)  # [K], env-major then oldest first

        # 4. advance the windows
        self._start[full] = (self._start[full] + 1) % n
        self._length[full] = n - 1
        self._start[ended] = 0
        self._length[ended] = 0

        if env_rows.size == 0:
            return None
        m = steps[env_rows, k_rows]  # [K]
        discounts = np.where(terminated[env_rows], 0.0, self._gamma_pow[m])  # [K]
        return Transitions(
            obs=self._obs[env_rows, order[env_rows, k_rows]],  # copies
            actions=self._actions[env_rows, order[env_rows, k_rows]],
            rewards=returns[env_rows, k_rows].astype(np.float32),
            next_obs=next_obs[env_rows],  # copies
            discounts=discounts.astype(np.float32),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "num_envs": self.num_envs,
            "n": self.n,
            "gamma": self.gamma,
            "obs": None if self._obs is None else self._obs.copy(),
            "actions": self._actions.copy(),
            "rewards": self._rewards.copy(),
            "start": self._start.copy(),
            "length": self._length.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (int(state["num_envs"]), int(state["n"]), float(state["gamma"])) != (
            self.num_envs,
            self.n,
            self.gamma,
        ):
            raise ValueError(
                f"state is for num_envs={state['num_envs']}, n={state['n']}, gamma={state['gamma']}; "
                f"this accumulator has num_envs={self.num_envs}, n={self.n}, gamma={self.gamma}"
            )
        self._obs = None if state["obs"] is None else np.array(state["obs"], copy=True)
        self._actions = np.array(state["actions"], dtype=np.int64, copy=True)
        self._rewards = np.array(state["rewards"], dtype=np.float64, copy=True)
        self._start = np.array(state["start"], dtype=np.int64, copy=True)
        self._length = np.array(state["length"], dtype=np.int64, copy=True)

    def _check_inputs(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        num_envs = self.num_envs
        if obs.ndim < 1 or obs.shape[0] != num_envs:
            raise ValueError(f"obs must have leading dim num_envs={num_envs}, got shape {obs.shape}")
        if next_obs.shape != obs.shape:
            raise ValueError(f"next_obs shape {next_obs.shape} != obs shape {obs.shape}")
        if self._obs is not None and obs.shape[1:] != self._obs.shape[2:]:
            raise ValueError(f"obs shape changed from {self._obs.shape[2:]} to {obs.shape[1:]}")
        check_per_env_arrays(num_envs, actions=actions, rewards=rewards, terminated=terminated, truncated=truncated)


def check_per_env_arrays(
    num_envs: int, *, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray
) -> None:
    """One vector step's per-env arrays are ``[E]`` and actions are integers; else a clear error."""
    for name, value in (("actions", actions), ("rewards", rewards), ("terminated", terminated), ("truncated", truncated)):
        if value.shape != (num_envs,):
            raise ValueError(f"{name} must have shape ({num_envs},), got {value.shape}")
    if not np.issubdtype(actions.dtype, np.integer):
        raise TypeError(f"actions must be integers, got dtype {actions.dtype}")
