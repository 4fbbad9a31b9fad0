"""Value heads (group ``network/head``): features ``[B, F]`` -> q-values or return distributions.

Every fully connected layer (hidden and output) is built with the run-time ``layer`` factory, so
noisy layers cover the whole head as in Rainbow (Hessel et al. 2018). Scalar heads return
q-values ``[B, A]``; distributional heads return logits ``[B, A, N]`` over a fixed ``support``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.networks.layers import LayerFactory
from rlkit.registry import register


def hidden_layers(in_features: int, hidden_sizes: Sequence[int], layer: LayerFactory) -> tuple[list[nn.Module], int]:
    """``[layer, ReLU] * len(hidden_sizes)`` from ``in_features``, and the width they end with."""
    modules: list[nn.Module] = []
    for size in hidden_sizes:
        modules += [layer(in_features, int(size)), nn.ReLU()]
        in_features = int(size)
    return modules, in_features


def mlp(in_features: int, hidden_sizes: Sequence[int], out_features: int, layer: LayerFactory) -> nn.Sequential:
    """``layer`` blocks with ReLU between them: in -> hidden... -> out (no final activation)."""
    modules, width = hidden_layers(in_features, hidden_sizes, layer)
    return nn.Sequential(*modules, layer(width, out_features))


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the incoming gradient by ``scale``."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged, its gradient times ``scale`` (a no-op for scale 1)."""
    return x if scale == 1.0 else _ScaleGradient.apply(x, scale)


def dueling_combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """Wang et al. 2016, eq. 9: ``V + A - mean_a A`` (action axis 1; any trailing atom axis)."""
    return value + advantage - advantage.mean(dim=1, keepdim=True)


class ScalarHead(nn.Module):
    """Base of heads whose output already is q-values ``[B, A]``."""

    distributional = False

    def __init__(self, *, num_actions: int) -> None:
        super().__init__()
        if num_actions < 1:
            raise ValueError(f"num_actions must be positive, got {num_actions}")
        self.num_actions = num_actions

    def q_values(self, output: torch.Tensor) -> torch.Tensor:  # [B, A] -> [B, A]
        return output


class DistributionalHead(nn.Module):
    """Base of C51 heads: logits ``[B, A, N]`` over ``support = linspace(v_min, v_max, N)``."""

    distributional = True
    support: torch.Tensor

    def __init__(self, *, num_actions: int, num_atoms: int, v_min: float, v_max: float) -> None:
        super().__init__()
        if num_actions < 1:
            raise ValueError(f"num_actions must be positive, got {num_actions}")
        if num_atoms < 2:
            raise ValueError(f"num_atoms must be at least 2, got {num_atoms}")
        if not v_min < v_max:
            raise ValueError(f"v_min must be smaller than v_max, got v_min={v_min}, v_max={v_max}")
        self.num_actions = num_actions
        self.num_atoms = num_atoms
        self.v_min = float(v_min)
        self.v_max = float(v_max)
        self.register_buffer("support", torch.linspace(v_min, v_max, num_atoms))  # [N]

    def log_probs(self, output: torch.Tensor) -> torch.Tensor:  # [B, A, N] -> [B, A, N]
        return F.log_softmax(output, dim=-1)

    def q_values(self, output: torch.Tensor) -> torch.Tensor:  # [B, A, N] -> [B, A]
        return (F.softmax(output, dim=-1) * self.support).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"num_atoms={self.num_atoms}, v_min={self.v_min}, v_max={self.v_max}"


@register("network/head", "q")
class QHead(ScalarHead):
    """Plain q-value head (Mnih et al. 2015)."""

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
    ) -> None:
        super().__init__(num_actions=num_actions)
        self.net = mlp(in_features, hidden_sizes, num_actions, layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A]
        return self.net(features)


@register("network/head", "dueling")
class DuelingHead(ScalarHead):
    """Dueling head (Wang et al. 2016): value and advantage outputs, ``Q = V + A - mean A``.

    ``shared_hidden=False``: separate value and advantage streams, each with ``hidden_sizes`` layers
    (Wang et al. 2016). ``True``: the hidden layers are shared and only the two output layers are
    separate, as Dopamine's FullRainbowNetwork (dopamine/jax/networks.py: one Dense 512 + ReLU, then
    ``adv`` and ``value`` Dense outputs, ``value + (adv - mean(adv))``).

    ``init="torch"``: the layer factory's own initialisation; ``"xavier_uniform"``: Glorot uniform
    weights and zero biases in every layer (Dopamine's ``nn.Dense(kernel_init=xavier_uniform())``,
    flax's zero ``bias_init``). It re-initialises plain ``nn.Linear`` layers only: noisy layers have
    their own parameters and initialisation (Fortunato et al. 2018) and are refused.

    ``torso_grad_scale``: both streams' gradients enter the torso summed; Wang et al. (Sec. 4.2)
    rescale that sum by ``1/sqrt(2)``. 1.0 leaves it as it is (Rainbow and Dopamine do not rescale).
    """

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
        torso_grad_scale: float = 1.0,
        shared_hidden: bool = False,
        init: Literal["torch", "xavier_uniform"] = "torch",
    ) -> None:
        super().__init__(num_actions=num_actions)
        if init not in ("torch", "xavier_uniform"):
            raise ValueError(f"init must be 'torch' or 'xavier_uniform', got {init!r}")
        if not isinstance(shared_hidden, bool):
            raise TypeError(f"shared_hidden must be true or false, got {shared_hidden!r}")
        self.torso_grad_scale = float(torso_grad_scale)
        self.shared_hidden = shared_hidden
        if self.shared_hidden:
            modules, width = hidden_layers(in_features, hidden_sizes, layer)
            self.hidden = nn.Sequential(*modules)
            self.value: nn.Module = layer(width, 1)
            self.advantage: nn.Module = layer(width, num_actions)
        else:
            self.value = mlp(in_features, hidden_sizes, 1, layer)
            self.advantage = mlp(in_features, hidden_sizes, num_actions, layer)
        if init == "xavier_uniform":
            layers = [m for m in self.modules() if next(m.parameters(recurse=False), None) is not None]
            refused = sorted({type(m).__name__ for m in layers if not isinstance(m, nn.Linear)})
            if refused:
                raise ValueError(f"init='xavier_uniform' re-initialises nn.Linear layers, but network/layer built "
                                 f"{', '.join(refused)} (noisy layers keep their own initialisation, Fortunato "
                                 f"et al. 2018): use network/layer=linear, or init=torch")
            for module in layers:
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A]
        features = scale_gradient(features, self.torso_grad_scale)
        if self.shared_hidden:
            features = self.hidden(features)  # [B, H]
        return dueling_combine(self.value(features), self.advantage(features))  # [B, 1] + [B, A]


@register("network/head", "c51")
class C51Head(DistributionalHead):
    """Categorical (C51) head (Bellemare et al. 2017): per-action logits over ``num_atoms`` atoms."""

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
        num_atoms: int = 51,
        v_min: float = -10.0,
        v_max: float = 10.0,
    ) -> None:
        super().__init__(num_actions=num_actions, num_atoms=num_atoms, v_min=v_min, v_max=v_max)
        self.net = mlp(in_features, hidden_sizes, num_actions * num_atoms, layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A, N]
        return self.net(features).view(-1, self.num_actions, self.num_atoms)


@register("network/head", "dueling_c51")
class DuelingC51Head(DistributionalHead):
    """Rainbow's head (Hessel et al. 2018): dueling streams combined per atom on the logits,
    ``logits = V [B, 1, N] + A [B, A, N] - mean_a A``, then a softmax over atoms."""

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
        num_atoms: int = 51,
        v_min: float = -10.0,
        v_max: float = 10.0,
        torso_grad_scale: float = 1.0,
    ) -> None:
        super().__init__(num_actions=num_actions, num_atoms=num_atoms, v_min=v_min, v_max=v_max)
        self.torso_grad_scale = float(torso_grad_scale)  # as in DuelingHead
        self.value = mlp(in_features, hidden_sizes, num_atoms, layer)
        self.advantage = mlp(in_features, hidden_sizes, num_actions * num_atoms, layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A, N]
        features = scale_gradient(features, self.torso_grad_scale)
        value = self.value(features).view(-1, 1, self.num_atoms)  # [B, 1, N]
        advantage = self.advantage(features).view(-1, self.num_actions, self.num_atoms)  # [B, A, N]
        return dueling_combine(value, advantage)
