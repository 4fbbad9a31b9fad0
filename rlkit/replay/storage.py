"""Circular transition storage: preallocated arrays, oldest rows overwritten first.

Each row is an n-step transition ``(obs, action, return, bootstrap obs, discount)`` as produced by
:class:`rlkit.replay.n_step.NStepAccumulator`. Observations are stored twice (``obs`` and
``next_obs``); a frame-deduplicating store for Atari can replace this one behind the same API.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlkit.registry import register


@runtime_checkable
class Storage(Protocol):
    """What :class:`rlkit.replay.buffer.ReplayBuffer` needs from a transition store."""

    @property
    def capacity(self) -> int: ...

    def __len__(self) -> int: ...

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray: ...

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@register("replay/storage", "circular")
class CircularStorage:
    """Fixed-capacity ring of transitions; slots fill from 0 and wrap around."""

    def __init__(
        self,
        *,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: str | np.dtype = "float32",
    ) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"storage capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
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
        """Number of valid rows, ``min(rows added, capacity)``; valid slots are ``[0, size)``."""
        return min(self._num_added, self._capacity)

    @property
    def num_added(self) -> int:
        """Rows added since construction (or restore), including overwritten ones."""
        return self._num_added

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Append a batch of rows (leading dim K); returns the int64 slots written, in order.

        If K exceeds the capacity only the last ``capacity`` rows are kept.
        """
        rows = self._check_rows(
            {"obs": obs, "actions": actions, "rewards": rewards, "next_obs": next_obs, "discounts": discounts}
        )
        num = rows["actions"].shape[0]
        skip = max(0, num - self._capacity)  # rows that would be overwritten within this call
        start = (self._num_added + skip) % self._capacity
        slots = (start + np.arange(num - skip, dtype=np.int64)) % self._capacity  # [K'] unique
        for key, array in self._arrays.items():
            array[slots] = rows[key][skip:]
        self._num_added += num
        return slots

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows at ``indices`` (each in ``[0, size)``), keyed by field name."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            raise IndexError(f"indices must lie in [0, {self.size}), got [{indices.min()}, {indices.max()}]")
        return {key: array[indices] for key, array in self._arrays.items()}

    def state_dict(self) -> dict[str, Any]:
        """The filled rows as views (serialize before adding more) and the write counter."""
        size = self.size
        state: dict[str, Any] = {key: array[:size] for key, array in self._arrays.items()}
        state.update(
            capacity=self._capacity,
            obs_shape=self.obs_shape,
            obs_dtype=self.obs_dtype.name,
            num_added=self._num_added,
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
            array[:size] = saved  # rows beyond size are never read
        self._num_added = num_added

    def _check_rows(self, rows: dict[str, Any]) -> dict[str, np.ndarray]:
        out = {key: np.asarray(value) for key, value in rows.items()}
        num = out["actions"].shape[0] if out["actions"].ndim == 1 else -1
        if num < 0:
            raise ValueError(f"actions must have shape [K], got {out['actions'].shape}")
        for key in ("obs", "next_obs"):
            if out[key].shape != (num, *self.obs_shape):
                raise ValueError(f"{key} must have shape {(num, *self.obs_shape)}, got {out[key].shape}")
            if not np.can_cast(out[key].dtype, self.obs_dtype, casting="same_kind"):
                raise TypeError(f"{key} of dtype {out[key].dtype} cannot be stored as {self.obs_dtype}")
        for key in ("rewards", "discounts"):
            if out[key].shape != (num,):
                raise ValueError(f"{key} must have shape ({num},), got {out[key].shape}")
        if not np.issubdtype(out["actions"].dtype, np.integer):
            raise TypeError(f"actions must be integers, got dtype {out['actions'].dtype}")
        return out

    def __repr__(self) -> str:
        return (
            f"CircularStorage(capacity={self._capacity}, size={self.size}, "
            f"obs_shape={self.obs_shape}, obs_dtype={self.obs_dtype})"
        )
