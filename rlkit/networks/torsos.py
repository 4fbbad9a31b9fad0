"""Observation encoders (group ``network/torso``): observations -> flat features ``[B, F]``.

Every torso takes the run-time ``obs_shape`` and exposes ``out_features``. Inputs may be float32
or uint8; uint8 frames travel to the device as bytes and are scaled to [0, 1] inside ``forward``
(MinAtar's 0/1 planes are not scaled).
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


Padding = Literal["valid", "same"]
Init = Literal["torch", "xavier_uniform"]
ComputeDtype = Literal["float32", "bfloat16"]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow/flax ``'SAME'`` zero padding ``(before, after)`` of one axis: ``ceil(size / stride)``
    outputs, the odd pixel after (``jax.lax.padtype_to_pads``); torch's ``padding='same'`` allows
    stride 1 only."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvTorso(nn.Module):
    """A stack of ReLU convolutions followed by flattening; ``out_features`` from ``obs_shape``.

    ``convs`` lists ``(out_channels, kernel, stride)`` per layer. ``padding="valid"``: none;
    ``"same"``: flax ``nn.Conv``'s default (:func:`same_padding`, an ``nn.ZeroPad2d`` before each
    convolution). ``init="torch"``: ``nn.Conv2d``'s default; ``"xavier_uniform"``: Glorot uniform
    weights ``U(+-sqrt(6 / (fan_in + fan_out)))`` and zero biases (flax
    ``nn.initializers.xavier_uniform()``, ``nn.Conv``'s zero ``bias_init``).

    ``channels_last=True`` keeps the kernels and the activations in NHWC memory order (oneDNN's preferred
    layout on CPUs; cuDNN's on tensor cores): the same network and features (flattened in C, H, W order
    as always), the convolutions computed in another order, so equal up to float rounding; on a CPU core
    the presets' updates run 1.02-1.14x faster (``benchmarks/learner_knobs.py``).

    ``compute_dtype="bfloat16"`` runs the convolutions under ``torch.autocast`` in bfloat16 (weights and their
    gradients stay float32; the features leave the torso as float32, so the head, the loss and the TD targets
    keep full precision): faster where the hardware has bfloat16 arithmetic (CPUs with AVX512-BF16 or AMX,
    NVIDIA GPUs from Ampere on), at the cost of 8-bit mantissas in the convolutions. Not float32's numbers: a
    run with it is another experiment, unlike ``channels_last``.
    """

    def __init__(
        self,
        *,
        obs_shape: Sequence[int],
        convs: Sequence[tuple[int, int, int]],
        padding: Padding = "valid",
        init: Init = "torch",
        channels_last: bool = True,
        compute_dtype: ComputeDtype = "float32",
    ) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"a conv torso needs obs_shape [C, H, W], got {tuple(obs_shape)}")
        if compute_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"compute_dtype must be 'float32' or 'bfloat16', got {compute_dtype!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if init not in ("torch", "xavier_uniform"):
            raise ValueError(f"init must be 'torch' or 'xavier_uniform', got {init!r}")
        channels, height, width = (int(s) for s in obs_shape)
        layers: list[nn.Module] = []
        in_channels = channels
        for out_channels, kernel, stride in convs:
            if padding == "same":
                top, bottom = same_padding(height, kernel, stride)
                left, right = same_padding(width, kernel, stride)
                layers.append(nn.ZeroPad2d((left, right, top, bottom)))
                height, width = height + top + bottom, width + left + right
            height, width = _conv_out(height, kernel, stride), _conv_out(width, kernel, stride)
            if height < 1 or width < 1:
                raise ValueError(f"obs_shape {tuple(obs_shape)} is too small for {list(convs)}")
            conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
            if init == "xavier_uniform":
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
            in_channels = out_channels
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.convs = nn.Sequential(*layers)
        self.out_features = in_channels * height * width
        self.channels_last = bool(channels_last)
        if self.channels_last:  # kernels stored NHWC; .to(device), copies and loaded states keep the layout
            self.convs.to(memory_format=torch.channels_last)
        self.compute_dtype: ComputeDtype = compute_dtype

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, F]
        if self.channels_last:
            obs = obs.contiguous(memory_format=torch.channels_last)  # uint8: a quarter of the float copy
        if self.compute_dtype == "float32":
            return self.convs(to_float(obs)).flatten(1)  # C, H, W order either way
        with torch.autocast(obs.device.type, dtype=torch.bfloat16):
            features = self.convs(to_float(obs))
        return features.float().flatten(1)


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
    """Mnih et al. 2015 (Nature) DQN convolutions: 32 8x8/4, 64 4x4/2, 64 3x3/1.

    Defaults: PyTorch's unpadded convolutions and init (84x84 -> 7x7x64 = 3136 features).
    Dopamine's FullRainbowNetwork (dopamine/jax/networks.py, the ``nn.Conv`` loop of
    ``FullRainbowNetwork.__call__``) is ``padding="same", init="xavier_uniform"``: flax's default
    SAME padding, 84 -> 21 -> 11 -> 11, i.e. 11x11x64 = 7744 features, with Xavier-uniform kernels.
    """

    def __init__(self, *, obs_shape: Sequence[int], padding: Padding = "valid", init: Init = "torch",
                 channels_last: bool = True, compute_dtype: ComputeDtype = "float32") -> None:
        super().__init__(obs_shape=obs_shape, convs=((32, 8, 4), (64, 4, 2), (64, 3, 1)), padding=padding, init=init,
                         channels_last=channels_last, compute_dtype=compute_dtype)


@register("network/torso", "der_cnn")
class DataEfficientCNN(ConvTorso):
    """van Hasselt et al. 2019 data-efficient Rainbow: 32 5x5/5, 64 5x5/5 (84x84 -> 576)."""

    def __init__(self, *, obs_shape: Sequence[int], channels_last: bool = True,
                 compute_dtype: ComputeDtype = "float32") -> None:
        super().__init__(obs_shape=obs_shape, convs=((32, 5, 5), (64, 5, 5)), channels_last=channels_last,
                         compute_dtype=compute_dtype)


@register("network/torso", "minatar_cnn")
class MinAtarCNN(nn.Module):
    """Young & Tian 2019 (MinAtar) DQN torso: one 16-channel 3x3 convolution, stride 1, then ReLU.

    MinAtar's observations are 0/1 planes, so uint8 inputs become floats without the /255 of camera
    frames. ``padding="valid"`` as MinAtar's reference DQN (PyTorch, no padding): 10x10 -> 8x8x16 =
    1024 features; ``"same"`` as Revisiting Rainbow (Obando-Ceron & Castro 2021; flax ``nn.Conv``'s
    default): 10x10x16 = 1600 features.
    """

    def __init__(self, *, obs_shape: Sequence[int], padding: Literal["valid", "same"] = "valid") -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"minatar_cnn needs obs_shape [C, H, W], got {tuple(obs_shape)}")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        channels, height, width = (int(s) for s in obs_shape)
        if padding == "valid":
            height, width = _conv_out(height, 3, 1), _conv_out(width, 3, 1)
        if height < 1 or width < 1:
            raise ValueError(f"obs_shape {tuple(obs_shape)} is too small for a 3x3 convolution")
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.conv = nn.Conv2d(channels, 16, kernel_size=3, stride=1, padding=0 if padding == "valid" else 1)
        self.out_features = 16 * height * width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] 0/1 planes -> [B, F]
        x = obs if obs.dtype == torch.float32 else obs.float()  # 0/1 values: no /255
        return torch.relu(self.conv(x)).flatten(1)
