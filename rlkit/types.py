"""Typed values passed between parts: a sampled batch and what a loss returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Batch:
    """A replay sample on the learner's device.

    ``rewards`` is the n-step discounted return ``sum_{k<m} gamma^k r_{t+k}`` and ``discounts`` is
    ``gamma^m`` (m <= n steps actually accumulated), or 0 where the episode terminated inside the
    window, so every target is ``rewards + discounts * bootstrap(next_obs)``.
    """

    obs: torch.Tensor  # [B, *obs_shape], dtype as stored (uint8 frames or float32)
    actions: torch.Tensor  # [B] int64
    rewards: torch.Tensor  # [B] float32
    next_obs: torch.Tensor  # [B, *obs_shape]
    discounts: torch.Tensor  # [B] float32
    weights: torch.Tensor  # [B] float32 importance-sampling weights (ones for uniform replay)
    indices: np.ndarray  # [B] int64 storage slots, for priority updates


@dataclass
class LossOutput:
    """What the learner needs from a loss: the scalar, per-sample PER priorities and metrics.

    A loss returns its metrics as 0-d tensors (no device sync inside the loss); the agent reads the
    loss and every metric in one transfer and hands them on as floats, the loss as ``losses/td_loss``
    (sync-free updates hand them on as 0-d device tensors instead).
    """

    loss: torch.Tensor  # [] scalar to back-propagate (already IS-weighted)
    priorities: torch.Tensor  # [B] detached, non-negative
    metrics: dict[str, Any] = field(default_factory=dict)  # name -> 0-d tensor (loss, sync-free agent) | float (agent)
