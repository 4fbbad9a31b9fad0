"""A device copy of a frame store's frames, so that stacks are gathered where the learner runs.

With ``replay.on_device=true`` the :class:`~rlkit.replay.frame_storage.FrameStackStorage` keeps its
frames on the host as before (the writes check each new stack against them) and this mirror keeps
a copy in device memory: an Atari-100k replay, 100K frames of 84x84, is 0.7 GB. At sample time the
host works out which frame slots make each stack (small integer arrays) and the device gathers
them; the batch's observations never cross the bus, which otherwise carries
``2 x B x S x 84 x 84`` bytes per update (1.8 MB at batch 32) after a host-side gather of as much.

The mirror uploads the rows written since the last sample (each env writes rows in order, so they
are the rows between the env's row count at the last upload and now) and everything after a
``load_state_dict``. The batches equal the host path's bit for bit (tests/unit/test_device_frames.py).
"""

from __future__ import annotations

import numpy as np
import torch

from rlkit.replay.frame_ring import FrameRing


class DeviceFrames:
    """The frames of ``ring`` on ``device``, brought up to date by :meth:`sync`."""

    def __init__(self, ring: FrameRing, device: torch.device | str) -> None:
        self.ring = ring
        self.device = torch.device(device)
        rows, features = ring._frames_flat.shape
        self.frames = torch.zeros((rows, features), dtype=_torch_dtype(ring.obs_dtype), device=self.device)
        self._synced = np.zeros_like(ring._count)  # [E] rows of each env uploaded
        self.uploaded_rows = 0  # rows sent in all (for tests and diagnostics)

    def invalidate(self) -> None:
        """Upload everything at the next sync (the host frames were replaced, e.g. by a checkpoint)."""
        self._synced = np.full_like(self.ring._count, -1)

    def sync(self) -> None:
        """Upload the frames written since the last sync."""
        ring = self.ring
        count, rows_per_env = ring._count, ring.rows_per_env
        if (self._synced < 0).any():
            slots = np.arange(ring._frames_flat.shape[0])
        else:
            new = np.minimum(count - self._synced, rows_per_env)  # [E] a ring overwritten twice: its last L rows
            if not new.any():
                return
            env = np.repeat(ring._envs, new)
            row = np.concatenate([np.arange(c - k, c) for c, k in zip(count, new, strict=True)])
            slots = ring._slot(env, row)
        index = torch.from_numpy(slots).to(self.device)
        self.frames[index] = torch.from_numpy(ring._frames_flat[slots]).to(self.device)
        self._synced = count.copy()
        self.uploaded_rows += int(slots.size)

    def stacks(self, slots: np.ndarray, padded: np.ndarray | None, shape: tuple[int, ...]) -> torch.Tensor:
        """Stacks gathered on the device from frame ``slots [K * S]`` (``padded``: positions to zero)."""
        frames = self.frames[torch.from_numpy(slots).to(self.device)]  # [K * S, F]
        if padded is not None and padded.any():
            frames[torch.from_numpy(padded).to(self.device)] = 0
        return frames.reshape(shape)


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


__all__ = ["DeviceFrames"]
