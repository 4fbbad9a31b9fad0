"""Value heads (group ``network/head``): torso features ``[B, F]`` -> a :class:`~rlkit.networks.outputs.HeadOutput`.

A head is its streams (one for ``q``; value and advantage for ``dueling``) and an output kind
(group ``network/output``: scalar, categorical, quantile, implicit_quantile) that sets how many
values each action gets and what they mean, so every stream layout works with every kind: the
dueling combination ``V + A - mean_a A`` applies per atom or quantile as well as to scalars.
Every fully connected layer (hidden and output) is built with the run-time ``layer`` factory, so
noisy layers cover the whole head as in Rainbow (Hessel et al. 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from rlkit.networks.layers import LayerFactory
from rlkit.networks.outputs import HeadOutput, OutputKind, Role, ScalarKind
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


class Head(nn.Module):
    """Base of heads: draws the output kind's fractions, embeds them, runs the streams, wraps the result.

    Subclasses implement ``streams(features) -> raw`` with raw [rows, A] (or [rows, A, atoms]).
    """

    def __init__(self, *, num_actions: int, output: OutputKind | None) -> None:
        super().__init__()
        if num_actions < 1:
            raise ValueError(f"num_actions must be positive, got {num_actions}")
        self.num_actions = num_actions
        self.output = output if output is not None else ScalarKind()

    @property
    def kind(self) -> str:
        """The output kind: ``scalar``, ``categorical`` or ``quantile``."""
        return self.output.kind

    @property
    def width(self) -> int:
        """Values per action the streams produce."""
        return self.output.atoms or 1

    def per_action(self, raw: torch.Tensor, actions: int) -> torch.Tensor:
        """[rows, actions * atoms] -> [rows, actions, atoms], or left [rows, actions] for one value each."""
        return raw if self.output.atoms is None else raw.view(-1, actions, self.output.atoms)

    def forward(
        self, features: torch.Tensor, role: Role = "act", generator: torch.Generator | None = None
    ) -> HeadOutput:  # [B, F] -> HeadOutput
        taus = self.output.fractions(features.shape[0], role, generator, features.device)
        return self.output.wrap(self.streams(self.output.embed(features, taus)), taus)

    def streams(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        # weights saved before output kinds existed kept the C51 support on the head itself
        if prefix + "support" in state_dict and prefix + "output.support" not in state_dict:
            state_dict[prefix + "output.support"] = state_dict.pop(prefix + "support")
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]


@register("network/head", "q")
class QHead(Head):
    """One stream to every action's values (Mnih et al. 2015; C51, QR-DQN and IQN with their output kind)."""

    def __init__(
        self,
        *,
        in_features: int,
        num_actions: int,
        layer: LayerFactory,
        hidden_sizes: Sequence[int] = (512,),
        output: OutputKind | None = None,
    ) -> None:
        super().__init__(num_actions=num_actions, output=output)
        self.net = mlp(in_features, hidden_sizes, num_actions * self.width, layer)

    def streams(self, features: torch.Tensor) -> torch.Tensor:  # [rows, F] -> [rows, A(, atoms)]
        return self.per_action(self.net(features), self.num_actions)


@register("network/head", "dueling")
class DuelingHead(Head):
    """Dueling head (Wang et al. 2016): value and advantage streams, ``Q = V + A - mean A``, per atom
    or quantile for distributional output kinds (Rainbow combines C51 logits so, Hessel et al. 2018).

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
        output: OutputKind | None = None,
        torso_grad_scale: float = 1.0,
        shared_hidden: bool = False,
        init: Literal["torch", "xavier_uniform"] = "torch",
    ) -> None:
        super().__init__(num_actions=num_actions, output=output)
        if init not in ("torch", "xavier_uniform"):
            raise ValueError(f"init must be 'torch' or 'xavier_uniform', got {init!r}")
        if not isinstance(shared_hidden, bool):
            raise TypeError(f"shared_hidden must be true or false, got {shared_hidden!r}")
        self.torso_grad_scale = float(torso_grad_scale)
        self.shared_hidden = shared_hidden
        if self.shared_hidden:
            modules, width = hidden_layers(in_features, hidden_sizes, layer)
            self.hidden = nn.Sequential(*modules)
            self.value: nn.Module = layer(width, self.width)
            self.advantage: nn.Module = layer(width, num_actions * self.width)
        else:
            self.value = mlp(in_features, hidden_sizes, self.width, layer)
            self.advantage = mlp(in_features, hidden_sizes, num_actions * self.width, layer)
        if init == "xavier_uniform":
            self._xavier_init()

    def _xavier_init(self) -> None:
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

    def streams(self, features: torch.Tensor) -> torch.Tensor:  # [rows, F] -> [rows, A(, atoms)]
        features = scale_gradient(features, self.torso_grad_scale)
        if self.shared_hidden:
            features = self.hidden(features)  # [rows, H]
        value = self.per_action(self.value(features), 1)  # [rows, 1(, atoms)]
        advantage = self.per_action(self.advantage(features), self.num_actions)  # [rows, A(, atoms)]
        return dueling_combine(value, advantage)
