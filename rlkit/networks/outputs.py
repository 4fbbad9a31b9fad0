"""What a head returns, and the output kinds (group ``network/output``) that shape it.

A head maps torso features to per-action values through its streams (one stream for ``q``, value
and advantage for ``dueling``); its *output kind* says how many values each action gets and what
they mean:

- ``scalar``: one q-value per action (Mnih et al. 2015) -> :class:`ScalarValues`.
- ``categorical``: logits over a fixed support of ``num_atoms`` returns (C51, Bellemare et al.
  2017) -> :class:`CategoricalValues`.
- ``quantile``: ``num_quantiles`` quantile values at the fixed fractions ``(2i + 1) / 2N``
  (QR-DQN, Dabney et al. 2018a) -> :class:`QuantileValues`.
- ``implicit_quantile``: quantile values at fractions sampled per forward pass and embedded into
  the features (IQN, Dabney et al. 2018b) -> :class:`QuantileValues`.

Every output has ``q_values`` [B, A] (what acting and the target rules use) and a ``kind`` that
losses declare they accept (:mod:`rlkit.losses`). A new distributional head is one new output kind:
a registered :class:`OutputKind` subclass and its YAML in ``conf/network/output/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.registry import register

Role = Literal["act", "select", "online", "target"]
"""Why a network is evaluated: acting (and evaluation), choosing the double-DQN next action with the
online network, the learner's online pass, or a target-network pass. IQN draws a different number
of fractions for each (K, K, N and N', Dabney et al. 2018b); the other kinds ignore it."""


class HeadOutput:
    """Base of head outputs: ``q_values`` [B, A] plus whatever distribution the kind defines."""

    kind: ClassVar[str]

    @property
    def q_values(self) -> torch.Tensor:  # [B, A]
        raise NotImplementedError


@dataclass(frozen=True)
class ScalarValues(HeadOutput):
    """One q-value per action."""

    kind: ClassVar[str] = "scalar"
    values: torch.Tensor  # [B, A]

    @property
    def q_values(self) -> torch.Tensor:
        return self.values


@dataclass(frozen=True)
class CategoricalValues(HeadOutput):
    """Logits over a fixed return support; ``q = sum_i softmax(logits)_i z_i``."""

    kind: ClassVar[str] = "categorical"
    logits: torch.Tensor  # [B, A, N]
    support: torch.Tensor  # [N], evenly spaced from v_min to v_max
    bounds: tuple[float, float] | None = None  # (v_min, v_max) on the host, to compare supports without a sync

    @property
    def q_values(self) -> torch.Tensor:
        return (F.softmax(self.logits, dim=-1) * self.support).sum(dim=-1)


@dataclass(frozen=True)
class QuantileValues(HeadOutput):
    """Quantile values of the return at fractions ``taus``; ``q = mean_i quantiles_i``."""

    kind: ClassVar[str] = "quantile"
    quantiles: torch.Tensor  # [B, A, T]
    taus: torch.Tensor  # [B, T] in (0, 1), the fraction of each quantile (shared across actions)

    @property
    def q_values(self) -> torch.Tensor:
        return self.quantiles.mean(dim=-1)


class OutputKind(nn.Module):
    """How a head's streams are shaped and read (registry group ``network/output``).

    ``atoms``: values per action the streams produce (None: one, with no atom axis). ``fractions``
    draws per-forward quantile fractions (IQN) and ``embed`` mixes them into the features; the base
    class does neither. ``wrap`` turns the streams' raw output into a :class:`HeadOutput`.
    """

    kind: ClassVar[str]
    atoms: int | None = None

    def __init__(self) -> None:  # no **kwargs: the builder passes in_features only to kinds that declare it
        super().__init__()

    def fractions(
        self, batch_size: int, role: Role, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor | None:
        return None

    def embed(self, features: torch.Tensor, taus: torch.Tensor | None) -> torch.Tensor:
        return features

    def wrap(self, raw: torch.Tensor, taus: torch.Tensor | None) -> HeadOutput:
        raise NotImplementedError


@register("network/output", "scalar")
class ScalarKind(OutputKind):
    """One q-value per action (DQN, Mnih et al. 2015)."""

    kind: ClassVar[str] = "scalar"

    def wrap(self, raw: torch.Tensor, taus: torch.Tensor | None) -> ScalarValues:
        return ScalarValues(raw)  # [B, A]


@register("network/output", "categorical")
class CategoricalKind(OutputKind):
    """C51 (Bellemare et al. 2017): logits over ``support = linspace(v_min, v_max, num_atoms)``."""

    kind: ClassVar[str] = "categorical"
    support: torch.Tensor

    def __init__(self, *, num_atoms: int = 51, v_min: float = -10.0, v_max: float = 10.0) -> None:
        super().__init__()
        if num_atoms < 2:
            raise ValueError(f"num_atoms must be at least 2, got {num_atoms}")
        if not v_min < v_max:
            raise ValueError(f"v_min must be smaller than v_max, got v_min={v_min}, v_max={v_max}")
        self.atoms = self.num_atoms = int(num_atoms)
        self.v_min, self.v_max = float(v_min), float(v_max)
        self.register_buffer("support", torch.linspace(v_min, v_max, num_atoms))  # [N]

    def wrap(self, raw: torch.Tensor, taus: torch.Tensor | None) -> CategoricalValues:
        return CategoricalValues(raw, self.support, (self.v_min, self.v_max))  # [B, A, N]

    def extra_repr(self) -> str:
        return f"num_atoms={self.num_atoms}, v_min={self.v_min}, v_max={self.v_max}"


@register("network/output", "quantile")
class QuantileKind(OutputKind):
    """QR-DQN (Dabney et al. 2018a): ``num_quantiles`` values at fractions ``(2i + 1) / 2N``."""

    kind: ClassVar[str] = "quantile"
    taus: torch.Tensor

    def __init__(self, *, num_quantiles: int = 200) -> None:
        super().__init__()
        if num_quantiles < 1:
            raise ValueError(f"num_quantiles must be positive, got {num_quantiles}")
        self.atoms = self.num_quantiles = int(num_quantiles)
        midpoints = (torch.arange(num_quantiles, dtype=torch.float32) + 0.5) / num_quantiles  # [N]
        self.register_buffer("taus", midpoints, persistent=False)

    def wrap(self, raw: torch.Tensor, taus: torch.Tensor | None) -> QuantileValues:
        return QuantileValues(raw, self.taus.expand(raw.shape[0], -1))  # [B, A, N], [B, N]

    def extra_repr(self) -> str:
        return f"num_quantiles={self.num_quantiles}"


@register("network/output", "implicit_quantile")
class ImplicitQuantileKind(OutputKind):
    """IQN (Dabney et al. 2018b): quantile values at fractions ``tau ~ U(0, 1)`` drawn per forward.

    Each fraction is embedded as ``ReLU(Linear(cos(pi i tau), i = 1..embedding_dim))`` (the sum in
    the paper's eq. 4 starts at i = 0, whose constant term the bias absorbs; Dopamine's network,
    like this one, starts at 1) and multiplies the torso features, so the streams see ``[B * T, F]``
    rows. Fractions per pass: ``num_samples_act`` (K) for acting and the double-DQN selection,
    ``num_samples_online`` (N) for the learner's online pass, ``num_samples_target`` (N') for target
    passes, all drawn from the generator the caller passes (the agent's checkpointed one).
    """

    kind: ClassVar[str] = "quantile"

    def __init__(
        self,
        *,
        in_features: int,
        embedding_dim: int = 64,
        num_samples_online: int = 64,
        num_samples_target: int = 64,
        num_samples_act: int = 32,
    ) -> None:
        super().__init__()
        counts = {"embedding_dim": embedding_dim, "num_samples_online": num_samples_online,
                  "num_samples_target": num_samples_target, "num_samples_act": num_samples_act}
        bad = {key: value for key, value in counts.items() if int(value) < 1}
        if bad:
            raise ValueError(f"implicit_quantile needs positive counts, got {bad}")
        self.embedding_dim = int(embedding_dim)
        self.samples = {"act": int(num_samples_act), "select": int(num_samples_act),
                        "online": int(num_samples_online), "target": int(num_samples_target)}
        self.register_buffer("frequencies", math.pi * torch.arange(1, embedding_dim + 1, dtype=torch.float32),
                             persistent=False)  # [D]: pi * i
        self.embedding = nn.Linear(self.embedding_dim, int(in_features))

    def fractions(
        self, batch_size: int, role: Role, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        return torch.rand(batch_size, self.samples[role], generator=generator, device=device)  # [B, T]

    def embed(self, features: torch.Tensor, taus: torch.Tensor | None) -> torch.Tensor:
        assert taus is not None
        cosines = torch.cos(taus.unsqueeze(-1) * self.frequencies)  # [B, T, D]
        phi = F.relu(self.embedding(cosines))  # [B, T, F]
        return (features.unsqueeze(1) * phi).flatten(0, 1)  # [B * T, F]

    def wrap(self, raw: torch.Tensor, taus: torch.Tensor | None) -> QuantileValues:
        assert taus is not None
        batch, samples = taus.shape
        return QuantileValues(raw.view(batch, samples, -1).transpose(1, 2), taus)  # [B, A, T]

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}, samples={self.samples}"
