"""Several vector envs stepped as one, group by group, so that one group's step can run while the
loop works on another (pipelined acting, :mod:`rlkit.training.stepping`).

Env ``i`` of the whole is env ``i - offset[g]`` of group ``g`` (groups hold consecutive envs), and a
reset with per-env seeds gives env ``i`` the same seed as a single vector env of all the envs would:
for the same seeds and actions the groups produce the same episodes as one vector env (ale-py and
gymnasium seed each env from its own seed; tests/unit/test_pipeline.py checks it).

Each group steps with ``send(actions)`` then ``recv()``: ale-py's :class:`AtariVectorAdapter` runs the
step on its worker threads between the two; gymnasium's ``AsyncVectorEnv`` in its worker processes
(``step_async``/``step_wait``); an in-process ``SyncVectorEnv`` steps inside ``recv`` (no overlap,
same results, and its state can still be captured for an exact resume).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


class _Group:
    """One vector env with a split step: ``send`` starts it, ``recv`` returns its outputs."""

    def __init__(self, envs: gym.vector.VectorEnv) -> None:
        self.envs = envs
        self.num_envs = int(envs.num_envs)
        self.pending: np.ndarray | None = None  # actions sent and not yet received
        if callable(getattr(envs, "send", None)) and callable(getattr(envs, "recv", None)):
            self.mode = "send"  # ale-py's adapter: the emulators run on its threads meanwhile
        elif isinstance(envs, gym.vector.AsyncVectorEnv):  # unwrapped: a wrapper's step would be skipped
            self.mode = "async"  # worker processes
        else:
            self.mode = "deferred"  # in-process: the step runs inside recv

    def send(self, actions: np.ndarray) -> None:
        if self.pending is not None:
            raise RuntimeError("a step of this env group is already in flight: recv() it first")
        self.pending = np.asarray(actions)
        if self.mode == "send":
            self.envs.send(self.pending)
        elif self.mode == "async":
            self.envs.step_async(self.pending)

    def recv(self) -> StepResult:
        if self.pending is None:
            raise RuntimeError("no step of this env group is in flight: send() actions first")
        actions, self.pending = self.pending, None
        if self.mode == "send":
            return self.envs.recv()
        if self.mode == "async":
            return self.envs.step_wait()
        return self.envs.step(actions)


def _merge_info(infos: Sequence[dict[str, Any]], sizes: Sequence[int]) -> dict[str, Any]:
    """Per-env info arrays of the groups, concatenated; a key a group lacks is filled for its envs
    (``None`` for object arrays, zeros/False otherwise: gymnasium's convention for absent entries)."""
    merged: dict[str, Any] = {}
    keys = list(dict.fromkeys(key for info in infos for key in info))
    for key in keys:
        present = [np.asarray(info[key]) for info in infos if key in info]
        template = present[0]
        if template.ndim == 0:  # not per env (none here; keep the first group's)
            merged[key] = template
            continue
        parts = []
        for info, size in zip(infos, sizes, strict=True):
            if key in info:
                parts.append(np.asarray(info[key]))
            elif template.dtype == object:
                parts.append(np.full(size, None, dtype=object))
            else:
                parts.append(np.zeros((size, *template.shape[1:]), dtype=template.dtype))
        merged[key] = np.concatenate(parts)
    return merged


class EnvGroups:
    """Vector envs (the groups) that act together as one vector env of all their envs."""

    def __init__(self, groups: Sequence[gym.vector.VectorEnv]) -> None:
        if not groups:
            raise ValueError("EnvGroups needs at least one vector env")
        self.groups = [_Group(envs) for envs in groups]
        self.sizes = [group.num_envs for group in self.groups]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.num_envs = int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.groups)

    def envs_of(self, group: int) -> slice:
        """The envs of ``group`` within the whole."""
        return slice(int(self.offsets[group]), int(self.offsets[group + 1]))

    def reset(self, *, seed: Sequence[int] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every group (nothing may be in flight); env ``i`` gets ``seed[i]``."""
        if seed is not None and len(seed) != self.num_envs:
            raise ValueError(f"{len(seed)} seeds for {self.num_envs} envs")
        obs, infos = [], []
        for g, group in enumerate(self.groups):
            group.pending = None
            seeds = None if seed is None else [int(s) for s in list(seed)[self.envs_of(g)]]
            group_obs, info = group.envs.reset(seed=seeds)
            obs.append(group_obs)
            infos.append(info)
        return np.concatenate(obs), _merge_info(infos, self.sizes)

    def send(self, group: int, actions: np.ndarray) -> None:
        """Start a step of ``group``'s envs with ``actions`` ``[size of the group]``."""
        self.groups[group].send(actions)

    def recv(self, group: int) -> StepResult:
        """The outputs of ``group``'s step in flight (waits for it)."""
        return self.groups[group].recv()

    def in_flight(self) -> list[np.ndarray | None]:
        """Each group's actions sent and not yet received."""
        return [group.pending for group in self.groups]

    @staticmethod
    def merge(results: Sequence[StepResult], sizes: Sequence[int]) -> StepResult:
        """The groups' step outputs as one vector env's."""
        obs, rewards, terminated, truncated, infos = zip(*results, strict=True)
        return (np.concatenate(obs), np.concatenate(rewards), np.concatenate(terminated),
                np.concatenate(truncated), _merge_info(infos, sizes))

    def drain(self) -> None:
        """Receive every step still in flight (before closing, or to stop cleanly)."""
        for group in self.groups:
            if group.pending is not None:
                group.recv()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            for group in self.groups:
                group.envs.close()


__all__ = ["EnvGroups", "StepResult"]
