"""Replay buffer = storage (what is kept) + sampler (what is replayed).

Swapping uniform for prioritized replay (Schaul et al. 2016) swaps only the sampler; swapping the
circular store for the frame-deduplicating one swaps only the storage. The learner always receives
a :class:`rlkit.types.Batch` and sends per-sample priorities back, which uniform replay ignores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.replay.device_frames import DeviceFrames
from rlkit.replay.frame_ring import FrameRing
from rlkit.replay.samplers import Sampler
from rlkit.replay.storage import Storage, StorageUpdate
from rlkit.types import Batch

# Rounds of redrawing slots that are not sampleable (uniform draws over [0, size) can hit the few
# slots whose n-step window is still open or whose frames were overwritten). With a fraction f of
# sampleable slots one index survives all rounds with probability (1 - f)^MAX_REDRAWS.
MAX_REDRAWS = 100


class ReplayBuffer:
    """Feeds raw env steps to ``storage``, draws slots with ``sampler``, returns device batches."""

    def __init__(self, *, storage: Storage, sampler: Sampler) -> None:
        storage_capacity = getattr(storage, "capacity", None)
        sampler_capacity = getattr(sampler, "capacity", None)
        if None not in (storage_capacity, sampler_capacity) and storage_capacity != sampler_capacity:
            raise ValueError(f"storage capacity {storage_capacity} != sampler capacity {sampler_capacity}")
        self.storage = storage
        self.sampler = sampler
        # whether the sampler reads the learner's priorities (a sampler that does not say is assumed to)
        self.uses_priorities = bool(getattr(sampler, "uses_priorities", True))
        self.device_frames: DeviceFrames | None = None  # replay.on_device: a device copy of the frames

    def keep_frames_on(self, device: torch.device | str) -> None:
        """Keep a copy of the frames on ``device`` and gather batches' stacks there (``replay.on_device``;
        frame-stack storage only: :mod:`rlkit.replay.device_frames`)."""
        if not isinstance(self.storage, FrameRing):
            raise TypeError(f"replay.on_device=true needs replay/storage=frame_stack (stacks gathered from single "
                             f"frames on the device); this replay's storage is {type(self.storage).__name__}")
        self.device_frames = DeviceFrames(self.storage, device)

    def __len__(self) -> int:
        """Number of sampleable transitions."""
        return len(self.storage)

    def add_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> StorageUpdate:
        """Record one step of E envs (``next_obs``: the real next obs, final obs at episode ends).

        Shapes: obs/next_obs ``[E, *obs_shape]``, actions/rewards/terminated/truncated ``[E]``.
        """
        update = self.storage.add_step(obs, actions, rewards, next_obs, terminated, truncated)
        if update.removed.size:
            self.sampler.on_remove(update.removed)
        if update.added.size:
            self.sampler.on_add(update.added)
        return update

    def sample(self, batch_size: int, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """Draw ``batch_size`` sampleable transitions onto ``device``; obs keep their stored dtype.

        ``non_blocking``: on CUDA, copy through page-locked memory without waiting for the device
        (a plain copy from pageable memory waits for the work queued before it)."""
        if len(self.storage) == 0:
            raise ValueError("cannot sample: the replay buffer holds no sampleable transition yet")
        size = self.storage.size
        indices, weights = self.sampler.sample(batch_size, size)  # [B], [B]
        bad = np.flatnonzero(~self.storage.valid(indices))  # positions to redraw
        for _ in range(MAX_REDRAWS):
            if bad.size == 0:
                break
            new_indices, new_weights = self.sampler.sample(bad.size, size)
            indices[bad], weights[bad] = new_indices, new_weights
            bad = bad[~self.storage.valid(new_indices)]
        else:
            if bad.size:
                raise RuntimeError(
                    f"{bad.size} of {batch_size} draws hit slots that are not sampleable after {MAX_REDRAWS} "
                    f"redraws ({len(self.storage)} sampleable transitions among {size} slots); the sampler "
                    "and storage disagree about which slots hold transitions"
                )
        frames = self.device_frames
        if frames is not None:
            frames.sync()
            rows = self.storage.get(indices, device_frames=frames)
        else:
            rows = self.storage.get(indices)
        device = torch.device(device)

        pinned = non_blocking and device.type == "cuda"

        def to_device(array: np.ndarray | torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
            if isinstance(array, torch.Tensor):  # gathered on the device already
                return array.to(device=device, dtype=dtype)
            host = torch.from_numpy(np.ascontiguousarray(array))
            if not pinned:
                return host.to(device=device, dtype=dtype)
            # torch's caching host allocator reuses the page-locked block only once the copy is done
            return host.to(dtype=dtype).pin_memory().to(device, non_blocking=True)

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
        """Send per-sample priorities (|TD| or per-sample loss, >= 0) for ``indices`` to the sampler.

        Slots that stopped being sampleable since they were drawn are skipped, so a late update
        can never revive a removed slot.
        """
        if not self.uses_priorities:  # uniform replay: the priorities need not leave the device
            return
        if isinstance(priorities, torch.Tensor):
            priorities = priorities.detach().to(device="cpu", dtype=torch.float64).numpy()
        indices = np.asarray(indices, dtype=np.int64)
        priorities = np.asarray(priorities)
        keep = self.storage.valid(indices)
        if not keep.all():
            indices, priorities = indices[keep], priorities[keep]
        self.sampler.update_priorities(indices, priorities)

    def restart_episodes(self) -> None:
        """Every env starts a new episode without ending its last one (envs reset on a resume)."""
        self.storage.restart_episodes()

    def set_progress(self, fraction: float) -> None:
        """Fraction of training done, for schedules such as PER's beta annealing."""
        self.sampler.set_progress(fraction)

    def state_dict(self) -> dict[str, Any]:
        return {"storage": self.storage.state_dict(), "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.storage.load_state_dict(state["storage"])
        self.sampler.load_state_dict(state["sampler"])
        if self.device_frames is not None:
            self.device_frames.invalidate()
