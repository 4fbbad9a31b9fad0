"""Replay storages: the :class:`Storage` protocol and the general-purpose :class:`CircularStorage`.

A storage receives raw vector-env steps and owns its n-step logic (Sutton 1988; Hessel et al.
2018), so a frame-deduplicating store (:mod:`rlkit.replay.frame_storage`) can rebuild n-step targets
from single frames instead of storing finished transitions.

Storage protocol
----------------
Constructor: keyword-only; besides its config keys, a storage declares the run-time values it needs
among ``capacity, obs_shape, obs_dtype, num_envs, n_step, gamma`` and the registry passes only those.

``add_step(obs, actions, rewards, next_obs, terminated, truncated) -> StorageUpdate``
    One step of E envs in lockstep: ``obs [E, *obs_shape]``, ``actions [E]`` int, ``rewards [E]``
    float, ``next_obs [E, *obs_shape]`` the REAL next observation (the final observation where an
    episode ended, not the autoreset one), ``terminated [E]`` and ``truncated [E]`` bool.
    Returns the slots whose transitions became sampleable (``added``) and those whose transitions
    stopped being sampleable (``removed``). One slot may appear in both when an old transition is
    replaced by a new one in the same step: apply ``removed`` first, then ``added``.
``valid(indices) -> bool [K]``
    Whether each slot holds a sampleable transition now.
``get(indices) -> dict``
    For sampleable slots: ``obs [K, *obs_shape]``, ``actions [K]`` int64, ``rewards [K]`` float32
    (n-step return ``sum_{k<m} gamma^k r_{t+k}``), ``next_obs [K, *obs_shape]`` (bootstrap
    observation ``s_{t+m}``), ``discounts [K]`` float32 (``gamma^m``, or 0 if the episode
    terminated inside the window; a truncation keeps ``gamma^m``).
``size``
    Slots ``[0, size)`` may be drawn (subject to ``valid``); ``capacity`` bounds every slot.
``len(storage)``
    Number of sampleable transitions. ``state_dict()`` / ``load_state_dict(state)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlkit.registry import register
from rlkit.replay.n_step import NStepAccumulator, Transitions

_NO_SLOTS = np.zeros(0, dtype=np.int64)
_NO_SLOTS.flags.writeable = False


@dataclass(frozen=True)
class StorageUpdate:
    """Which slots one ``add_step`` made sampleable and which it made unsampleable."""

    added: np.ndarray  # [K] int64 slots holding new sampleable transitions
    removed: np.ndarray  # [K'] int64 slots whose previous transitions can no longer be sampled


EMPTY_UPDATE = StorageUpdate(added=_NO_SLOTS, removed=_NO_SLOTS)


def check_obs_pair(obs: np.ndarray, next_obs: np.ndarray, *, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """``obs`` and ``next_obs`` of one vector step have ``shape`` ``[E, *obs_shape]`` and store as ``dtype``."""
    for key, value in (("obs", obs), ("next_obs", next_obs)):
        if value.shape != shape:
            raise ValueError(f"{key} must have shape {shape}, got {value.shape}")
        if not np.can_cast(value.dtype, dtype, casting="same_kind"):
            raise TypeError(f"{key} of dtype {value.dtype} cannot be stored as {dtype}")


@runtime_checkable
class Storage(Protocol):
    """What :class:`rlkit.replay.buffer.ReplayBuffer` needs from a store (see the module docstring)."""

    @property
    def capacity(self) -> int: ...

    @property
    def size(self) -> int: ...

    def __len__(self) -> int: ...

    def add_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> StorageUpdate: ...

    def valid(self, indices: np.ndarray) -> np.ndarray: ...

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...

    def restart_episodes(self) -> None:
        """The envs were reset outside the stream: forget every env's unfinished episode window."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@register("replay/storage", "circular")
class CircularStorage:
    """Ring of finished n-step transitions; slots fill from 0 and wrap around.

    An internal :class:`NStepAccumulator` turns raw steps into ``(obs, action, return, bootstrap
    obs, discount)`` rows. Observations are stored twice (``obs`` and ``next_obs``): fine for
    vector observations; for stacked Atari frames use ``frame_stack``. Every slot in ``[0, size)``
    is sampleable; ``removed`` lists the slots that wrap-around overwrote.
    """

    def __init__(
        self,
        *,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: str | np.dtype = "float32",
        num_envs: int,
        n_step: int,
        gamma: float,
    ) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"storage capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self._n_step = NStepAccumulator(num_envs=num_envs, n=n_step, gamma=gamma)
        # np.zeros maps untouched pages lazily, so a large, partly filled store costs what it holds.
        self._arrays: dict[str, np.ndarray] = {
            "obs": np.zeros((capacity, *self.obs_shape), dtype=self.obs_dtype),  # [C, *obs_shape]
            "actions": np.zeros(capacity, dtype=np.int64),  # [C]
            "rewards": np.zeros(capacity, dtype=np.float32),  # [C] n-step returns
            "next_obs": np.zeros((capacity, *self.obs_shape), dtype=self.obs_dtype),  # [C, *obs_shape]
            "discounts": np.zeros(capacity, dtype=np.float32),  # [C] gamma^m or 0
        }
        self._num_added = 0  # rows ever added (the write cursor is num_added % capacity)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def size(self) -> int:
        """Number of filled rows, ``min(rows added, capacity)``; all of ``[0, size)`` is sampleable."""
        return min(self._num_added, self._capacity)

    @property
    def num_added(self) -> int:
        """Rows added since construction (or restore), including overwritten ones."""
        return self._num_added

    @property
    def n_step(self) -> int:
        """Steps summed into each return (n)."""
        return self._n_step.n

    @property
    def gamma(self) -> float:
        return self._n_step.gamma

    @property
    def accumulator(self) -> NStepAccumulator:
        """The accumulator holding each env's pending n-step window."""
        return self._n_step

    def __len__(self) -> int:
        return self.size

    def add_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> StorageUpdate:
        """Record one vector step; the n-step transitions it completes are written at once."""
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        check_obs_pair(obs, next_obs, shape=(self._n_step.num_envs, *self.obs_shape), dtype=self.obs_dtype)
        transitions = self._n_step.step(obs, actions, rewards, next_obs, terminated, truncated)
        if transitions is None:
            return EMPTY_UPDATE
        return self._write(transitions)

    def _write(self, rows: Transitions) -> StorageUpdate:
        """Append rows (leading dim K); if K exceeds the capacity only the last ``capacity`` are kept."""
        num = len(rows)
        skip = max(0, num - self._capacity)  # rows that would be overwritten within this call
        start = (self._num_added + skip) % self._capacity
        slots = (start + np.arange(num - skip, dtype=np.int64)) % self._capacity  # [K'] unique
        filled_before = self.size
        for key, array in self._arrays.items():
            array[slots] = getattr(rows, key)[skip:]
        self._num_added += num
        return StorageUpdate(added=slots, removed=slots[slots < filled_before])

    def valid(self, indices: np.ndarray) -> np.ndarray:
        """True for slots in ``[0, size)``."""
        indices = np.asarray(indices)
        return (indices >= 0) & (indices < self.size)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows at ``indices`` (each in ``[0, size)``), keyed by field name."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            raise IndexError(f"indices must lie in [0, {self.size}), got [{indices.min()}, {indices.max()}]")
        return {key: array[indices] for key, array in self._arrays.items()}

    def restart_episodes(self) -> None:
        """Drop the pending n-step windows: those steps never reach a bootstrap observation."""
        self._n_step.reset()

    def state_dict(self) -> dict[str, Any]:
        """The filled rows as views (serialize before adding more), write counter, n-step windows."""
        size = self.size
        state: dict[str, Any] = {key: array[:size] for key, array in self._arrays.items()}
        state.update(
            capacity=self._capacity,
            obs_shape=self.obs_shape,
            obs_dtype=self.obs_dtype.name,
            num_added=self._num_added,
            n_step=self._n_step.state_dict(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self._capacity or tuple(state["obs_shape"]) != self.obs_shape:
            raise ValueError(
                f"state is for capacity {state['capacity']} and obs_shape {tuple(state['obs_shape'])}; "
                f"this storage has {self._capacity} and {self.obs_shape}"
            )
        if np.dtype(state["obs_dtype"]) != self.obs_dtype:
            raise ValueError(f"state stores obs as {state['obs_dtype']}, this storage as {self.obs_dtype}")
        num_added = int(state["num_added"])
        size = min(num_added, self._capacity)
        for key, array in self._arrays.items():
            saved = np.asarray(state[key])
            if saved.shape != (size, *array.shape[1:]):
                raise ValueError(f"state field {key!r} has shape {saved.shape}, expected {(size, *array.shape[1:])}")
        self._n_step.load_state_dict(state["n_step"])  # validates before anything is overwritten
        for key, array in self._arrays.items():
            array[:size] = state[key]  # rows beyond size are never read
        self._num_added = num_added

    def __repr__(self) -> str:
        return (
            f"CircularStorage(capacity={self._capacity}, size={self.size}, "
            f"obs_shape={self.obs_shape}, obs_dtype={self.obs_dtype}, n_step={self._n_step.n})"
        )
