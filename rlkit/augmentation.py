"""Data augmentation of the learner's replay batches (registry group ``augmentation``).

The agent passes every sampled :class:`~rlkit.types.Batch` through its augmentation at the start of
an update, before the loss. ``none`` returns the batch itself; ``random_shift`` is DrQ's image
augmentation (Kostrikov et al. 2020, "Image Augmentation Is All You Need"; Yarats et al. 2021,
DrQ-v2): each image is padded by ``pad`` pixels with edge replication and a random window of the
original size is cropped back, i.e. shifted by an integer in ``[-pad, pad]`` on each axis; optionally
followed by a random intensity scale per image (Schwarzer et al. 2021, as Dopamine's DrQ).

An augmentation owns its random numbers (a ``torch.Generator`` seeded from the run's seed) and saves
them with ``state_dict``/``load_state_dict``, so a resumed run draws the same shifts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Protocol

import numpy as np
import torch

from rlkit.networks.torsos import to_float
from rlkit.registry import register
from rlkit.types import Batch


class Augmentation(Protocol):
    """Maps a replay batch to the batch the loss sees; stateful parts save their random numbers."""

    def __call__(self, batch: Batch) -> Batch: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@register("augmentation", "none")
class NoAugmentation:
    """No augmentation: the batch itself, unchanged."""

    def __call__(self, batch: Batch) -> Batch:
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def shift_images(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """``images`` [B, C, H, W] shifted by ``(dy[b], dx[b])`` pixels, borders replicated; same dtype and device.

    ``out[b, c, i, j] = images[b, c, clamp(i + dy[b]), clamp(j + dx[b])]``: the window at offset
    ``(pad + dy, pad + dx)`` of the image padded by ``pad`` with edge replication. One gather over
    the flattened pixels; every channel (frame) of a sample moves together.
    """
    if images.dim() != 4:
        raise ValueError(f"image shifts need observations [B, C, H, W], got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    rows = (torch.arange(h, device=images.device) + dy.view(b, 1)).clamp_(0, h - 1)  # [B, H]
    cols = (torch.arange(w, device=images.device) + dx.view(b, 1)).clamp_(0, w - 1)  # [B, W]
    index = (rows.unsqueeze(2) * w + cols.unsqueeze(1)).view(b, 1, h * w).expand(b, c, h * w)  # [B, C, H*W]
    return images.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)


def _generator(seed: int) -> torch.Generator:
    """A CPU generator whose stream differs from torch's global one (seeded with the same ``seed``)."""
    derived = int(np.random.SeedSequence([int(seed), 0x5EED_A06]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(derived)


@register("augmentation", "random_shift")
class RandomShift:
    """DrQ random shifts (Kostrikov et al. 2020; Yarats et al. 2021): pad by ``pad`` pixels (replicate),
    crop a random window of the original size back; then, if ``intensity_scale > 0``, a random intensity.

    One shift per sample, shared by all its channels (the frames of a stack); ``obs`` and
    ``next_obs`` get independent shifts; actions, rewards, discounts and IS weights are untouched.
    Random numbers come from an own CPU generator (so a run draws the same ones on any device) and
    are applied on the batch's device.

    ``shift_range``: ``"symmetric"``: integer shifts in ``[-pad, pad]`` per axis (DrQ's reference);
    ``"exclusive_max"``: ``[-pad, pad - 1]``, as Dopamine, whose crop offsets
    ``jax.random.randint(key, (B,), 0, 2 * pad)`` exclude their maxval
    (dopamine/labs/atari_100k/atari_100k_rainbow_agent.py, ``_per_image_random_crop``).

    ``intensity_scale``: each shifted image is multiplied by ``1 + intensity_scale * clip(r, -2, 2)``,
    ``r ~ N(0, 1)`` drawn once per image (all its frames), independently for ``obs`` and ``next_obs``
    (Dopamine's ``_intensity_aug``, scale 0.05, after the crop in ``drq_image_augmentation``; from
    Schwarzer et al. 2021, SPR). 0 (the default) draws nothing and leaves the dtype: uint8 frames stay
    uint8. Above 0 the result is no longer an integer, so uint8 frames (0-255 camera pixels) become
    float32 scaled to [0, 1] exactly as the torsos' ``to_float`` would scale them, then multiplied, which
    is Dopamine's order (``x / 255``, shift, intensity); float inputs are multiplied as they are. It is
    done here rather than in the torso because the noise belongs to the learner's batch: acting and
    evaluation see unaugmented frames. MinAtar's 0/1 planes are not camera pixels: keep it 0 there.
    """

    def __init__(
        self,
        *,
        pad: int = 4,
        intensity_scale: float = 0.0,
        shift_range: Literal["symmetric", "exclusive_max"] = "symmetric",
        seed: int = 0,
    ) -> None:
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"augmentation.pad must be an integer >= 0 (pixels), got {pad!r}")
        if shift_range not in ("symmetric", "exclusive_max"):
            raise ValueError(f"augmentation.shift_range must be 'symmetric' or 'exclusive_max', got {shift_range!r}")
        if shift_range == "exclusive_max" and pad < 1:
            raise ValueError("augmentation.shift_range='exclusive_max' draws shifts in [-pad, pad - 1]: pad must be >= 1")
        if not intensity_scale >= 0:
            raise ValueError(f"augmentation.intensity_scale must be >= 0, got {intensity_scale!r}")
        self.pad = pad
        self.intensity_scale = float(intensity_scale)
        self.shift_range = shift_range
        self.generator = _generator(seed)

    def __call__(self, batch: Batch) -> Batch:
        size = batch.obs.shape[0]
        high = self.pad + 1 if self.shift_range == "symmetric" else self.pad  # exclusive bound
        # [2 (obs, next_obs), 2 (dy, dx), B] integers in [-pad, high)
        shifts = torch.randint(-self.pad, high, (2, 2, size), generator=self.generator)
        shifts = shifts.to(batch.obs.device, non_blocking=True)
        obs = shift_images(batch.obs, shifts[0, 0], shifts[0, 1])
        next_obs = shift_images(batch.next_obs, shifts[1, 0], shifts[1, 1])
        if self.intensity_scale > 0:
            noise = torch.randn((2, size), generator=self.generator)  # [2 (obs, next_obs), B]
            factor = (1.0 + self.intensity_scale * noise.clamp_(-2.0, 2.0)).to(batch.obs.device, non_blocking=True)
            obs = to_float(obs) * factor[0].view(size, 1, 1, 1)
            next_obs = to_float(next_obs) * factor[1].view(size, 1, 1, 1)
        return dataclasses.replace(batch, obs=obs, next_obs=next_obs)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
