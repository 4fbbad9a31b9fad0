"""Value heads (group ``network/head``): features ``[B, F]`` -> q-values or return distributions.

Every fully connected layer (hidden and output) is built with the run-time ``layer`` factory, so
noisy layers cover the whole head as in Rainbow (Hessel et al. 2018). Scalar heads return
q-values ``[B, A]``; distributional heads return logits ``[B, A, N]`` over a fixed ``support``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.networks.layers import LayerFactory
from rlkit.registry import register


def mlp(in_features: int, hidden_sizes: Sequence[int], out_features: int, layer: LayerFactory) -> nn.Sequential:
    """``layer`` blocks with ReLU between them: in -> hidden... -> out (no final activation)."""
    modules: list[nn.Module] = []
    for size in hidden_sizes:
        modules += [layer(in_features, int(size)), nn.ReLU()]
        in_features = int(size)
    modules.append(layer(in_features, out_features))
    return nn.Sequential(*modules)


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
    """Dueling head (Wang et al. 2016): separate value and advantage streams, ``Q = V + A - mean A``."""

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
    ) -> None:
        super().__init__(num_actions=num_actions)
        self.value = mlp(in_features, hidden_sizes, 1, layer)
        self.advantage = mlp(in_features, hidden_sizes, num_actions, layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A]
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
    ) -> None:
        super().__init__(num_actions=num_actions, num_atoms=num_atoms, v_min=v_min, v_max=v_max)
        self.value = mlp(in_features, hidden_sizes, num_atoms, layer)
        self.advantage = mlp(in_features, hidden_sizes, num_actions * num_atoms, layer)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, A, N]
        value = self.value(features).view(-1, 1, self.num_atoms)  # [B, 1, N]
        advantage = self.advantage(features).view(-1, self.num_actions, self.num_atoms)  # [B, A, N]
        return dueling_combine(value, advantage)
