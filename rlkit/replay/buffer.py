"""Replay buffer = storage (what is kept) + sampler (what is replayed).

Swapping uniform for prioritized replay (Schaul et al. 2016) swaps only the sampler; the learner
always receives a :class:`rlkit.types.Batch` and sends per-sample priorities back, which uniform
replay ignores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.replay.samplers import Sampler
from rlkit.replay.storage import Storage
from rlkit.types import Batch


class ReplayBuffer:
    """Writes transitions to ``storage``, draws slots with ``sampler``, returns device batches."""

    def __init__(self, *, storage: Storage, sampler: Sampler) -> None:
        storage_capacity = getattr(storage, "capacity", None)
        sampler_capacity = getattr(sampler, "capacity", None)
        if None not in (storage_capacity, sampler_capacity) and storage_capacity != sampler_capacity:
            raise ValueError(f"storage capacity {storage_capacity} != sampler capacity {sampler_capacity}")
        self.storage = storage
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.storage)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Store a batch of transitions (leading dim K); returns the slots written."""
        slots = self.storage.add(obs, actions, rewards, next_obs, discounts)
        self.sampler.on_add(slots)
        return slots

    def sample(self, batch_size: int, device: torch.device | str) -> Batch:
        """Draw ``batch_size`` transitions onto ``device``; obs keep their stored dtype."""
        indices, weights = self.sampler.sample(batch_size, len(self.storage))  # [B], [B]
        rows = self.storage.get(indices)
        device = torch.device(device)

        def to_device(array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=dtype)

        return Batch(
            obs=to_device(rows["obs"]),  # [B, *obs_shape]
            actions=to_device(rows["actions"], torch.int64),  # [B]
            rewards=to_device(rows["rewards"], torch.float32),  # [B]
            next_obs=to_device(rows["next_obs"]),  # [B, *obs_shape]
            discounts=to_device(rows["discounts"], torch.float32),  # [B]
            weights=to_device(weights, torch.float32),  # [B]
            indices=np.asarray(indices, dtype=np.int64),  # [B]
        )

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray | torch.Tensor) -> None:
        """Send per-sample priorities (|TD| or per-sample loss, >= 0) for ``indices`` to the sampler."""
        if isinstance(priorities, torch.Tensor):
            priorities = priorities.detach().to(device="cpu", dtype=torch.float64).numpy()
        self.sampler.update_priorities(np.asarray(indices, dtype=np.int64), np.asarray(priorities))

    def set_progress(self, fraction: float) -> None:
        """Fraction of training done, for schedules such as PER's beta annealing."""
        self.sampler.set_progress(fraction)

    def state_dict(self) -> dict[str, Any]:
        return {"storage": self.storage.state_dict(), "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.storage.load_state_dict(state["storage"])
        self.sampler.load_state_dict(state["sampler"])
