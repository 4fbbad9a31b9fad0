"""Observation encoders (group ``network/torso``): observations -> flat features ``[B, F]``.

Every torso takes the run-time ``obs_shape`` and exposes ``out_features``. Inputs may be float32
or uint8; uint8 frames travel to the device as bytes and are scaled to [0, 1] inside ``forward``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from rlkit.registry import register

Activation = Literal["relu", "tanh", "elu"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1]; other dtypes -> float32 unchanged in value."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x if x.dtype == torch.float32 else x.float()


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


class ConvTorso(nn.Module):
    """A stack of ReLU convolutions followed by flattening; ``out_features`` from ``obs_shape``.

    ``convs`` lists ``(out_channels, kernel, stride)`` per layer (no padding).
    """

    def __init__(self, *, obs_shape: Sequence[int], convs: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"a conv torso needs obs_shape [C, H, W], got {tuple(obs_shape)}")
        channels, height, width = (int(s) for s in obs_shape)
        layers: list[nn.Module] = []
        in_channels = channels
        for out_channels, kernel, stride in convs:
            height, width = _conv_out(height, kernel, stride), _conv_out(width, kernel, stride)
            if height < 1 or width < 1:
                raise ValueError(f"obs_shape {tuple(obs_shape)} is too small for {list(convs)}")
            layers += [nn.Conv2d(in_channels, out_channels, kernel, stride), nn.ReLU()]
            in_channels = out_channels
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.convs = nn.Sequential(*layers)
        self.out_features = in_channels * height * width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, F]
        return self.convs(to_float(obs)).flatten(1)


@register("network/torso", "mlp")
class MLPTorso(nn.Module):
    """Flatten the observation and apply fully connected layers with an activation."""

    def __init__(
        self,
        *,
        obs_shape: Sequence[int],
        hidden_sizes: Sequence[int] = (128,),
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.obs_shape = tuple(int(s) for s in obs_shape)
        in_features = math.prod(self.obs_shape)
        layers: list[nn.Module] = []
        for size in hidden_sizes:
            layers += [nn.Linear(in_features, int(size)), _ACTIVATIONS[activation]()]
            in_features = int(size)
        self.layers = nn.Sequential(*layers)
        self.out_features = in_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # [B, *obs_shape] -> [B, F]
        return self.layers(to_float(obs).flatten(1))


@register("network/torso", "nature_cnn")
class NatureCNN(ConvTorso):
    """Mnih et al. 2015 (Nature) DQN convolutions: 32 8x8/4, 64 4x4/2, 64 3x3/1 (84x84 -> 3136)."""

    def __init__(self, *, obs_shape: Sequence[int]) -> None:
        super().__init__(obs_shape=obs_shape, convs=((32, 8, 4), (64, 4, 2), (64, 3, 1)))


@register("network/torso", "der_cnn")
class DataEfficientCNN(ConvTorso):
    """van Hasselt et al. 2019 data-efficient Rainbow: 32 5x5/5, 64 5x5/5 (84x84 -> 576)."""

    def __init__(self, *, obs_shape: Sequence[int]) -> None:
        super().__init__(obs_shape=obs_shape, convs=((32, 5, 5), (64, 5, 5)))
