"""A Q-network assembled from a torso and a head, and its builder from the three config groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rlkit.networks.layers import NoisyLinear
from rlkit.networks.outputs import HeadOutput, Role
from rlkit.registry import build


class QNetwork(nn.Module):
    """``head(torso(obs))``: a :class:`~rlkit.networks.outputs.HeadOutput` with q-values ``[B, A]``
    and, for distributional heads, the return distribution (logits or quantiles)."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head

    @property
    def kind(self) -> str:
        """The head's output kind: ``scalar``, ``categorical``, ``quantile``, ..."""
        return str(self.head.kind)

    @property
    def distributional(self) -> bool:
        return self.kind != "scalar"

    def forward(
        self, obs: torch.Tensor, role: Role = "act", generator: torch.Generator | None = None
    ) -> HeadOutput:  # [B, *obs] -> HeadOutput
        return self.head(self.torso(obs), role, generator)

    def q_values(
        self, obs: torch.Tensor, role: Role = "act", generator: torch.Generator | None = None
    ) -> torch.Tensor:  # [B, *obs] -> [B, A]
        return self(obs, role, generator).q_values

    # -- parameter noise ------------------------------------------------------------------------
    def noisy_layers(self) -> list[tuple[str, NoisyLinear]]:
        """``(qualified name, layer)`` for every noisy layer, in module order."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, NoisyLinear)]

    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Resample the noise of every noisy layer (no-op without noisy layers)."""
        for _, layer in self.noisy_layers():
            layer.reset_noise(generator)

    def set_noise_mean(self, flag: bool) -> None:
        """``True``: noisy layers use their mean weights only (deterministic evaluation)."""
        for _, layer in self.noisy_layers():
            layer.use_mean = flag

    def snr_metrics(self) -> dict[str, float]:
        """``noise/snr/<layer name>`` -> RMS(mu) / RMS(sigma) of each noisy layer (one sync)."""
        layers = self.noisy_layers()
        if not layers:
            return {}
        values = torch.stack([layer.snr_tensor() for _, layer in layers]).tolist()
        return {f"noise/snr/{name}": float(v) for (name, _), v in zip(layers, values, strict=True)}


def build_network(
    *,
    torso_cfg: Mapping[str, Any] | Any,
    head_cfg: Mapping[str, Any] | Any,
    layer_cfg: Mapping[str, Any] | Any,
    obs_shape: Sequence[int],
    num_actions: int,
) -> QNetwork:
    """Build ``network/layer``, ``network/torso`` and ``network/head`` (with its ``output`` kind, group
    ``network/output``; scalar when absent) from configs (``name`` + kwargs)."""
    layer = build("network/layer", layer_cfg)
    torso = build("network/torso", torso_cfg, obs_shape=tuple(int(s) for s in obs_shape))
    head_params = dict(head_cfg)
    output_cfg = head_params.pop("output", None) or {"name": "scalar"}
    output = build("network/output", output_cfg, in_features=torso.out_features)
    head = build(
        "network/head",
        head_params,
        in_features=torso.out_features,
        num_actions=int(num_actions),
        layer=layer,
        output=output,
    )
    return QNetwork(torso, head)
