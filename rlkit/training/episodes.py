"""Per-env episode return/length bookkeeping over a vector env."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


def game_over(info: Mapping[str, Any], terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    """Real episode ends [E]: ``info["game_over"]`` where the env gives it (Atari with life-loss
    terminals), else ``terminated | truncated``. Episode statistics count whole games."""
    flags = info.get("game_over")
    return np.asarray(flags, dtype=bool) if flags is not None else (terminated | truncated)


class EpisodeTracker:
    """Accumulates raw rewards per env; yields ``(env, return, length)`` when an episode ends."""

    def __init__(self, num_envs: int) -> None:
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)

    def step(self, rewards: np.ndarray, done: np.ndarray) -> Iterator[tuple[int, float, int]]:
        self.returns += rewards
        self.lengths += 1
        finished = []
        for i in np.flatnonzero(done):
            finished.append((int(i), float(self.returns[i]), int(self.lengths[i])))
            self.returns[i] = 0.0
            self.lengths[i] = 0
        return iter(finished)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"returns": self.returns.copy(), "lengths": self.lengths.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.returns[:] = state["returns"]
        self.lengths[:] = state["lengths"]
