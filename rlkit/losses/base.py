"""The loss interface: what a loss receives (:class:`LearnerNetworks`), returns (``LossOutput``) and
declares (:class:`Loss`).

A loss asks :class:`LearnerNetworks` for the passes it needs: ``bootstrap(batch)`` (the target
network's next-state output and the target rule's :class:`~rlkit.targets.NextPolicy`, without
gradient) and ``online(obs)`` (the online output it learns through). Parameter noise and IQN's
fractions are drawn there, not in the loss: one :class:`~rlkit.networks.noise.NoiseControl` decides
when each network's noise is resampled (Fortunato et al. 2018, Algorithm 1), and every pass draws
its fractions from the agent's generator. A loss returns its scalar (IS-weighted), per-sample PER
priorities and metrics as 0-d tensors; the agent reads them all in one device sync, checks that the
loss itself is finite, and logs it as ``losses/td_loss`` for every loss.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch

from rlkit.networks.model import QNetwork
from rlkit.networks.noise import NoiseControl
from rlkit.networks.outputs import HeadOutput
from rlkit.targets import NextPolicy, TargetRule
from rlkit.types import Batch, LossOutput


class LearnerNetworks:
    """The network passes of one gradient update, in the order NoisyNet's Algorithm 1 draws noise:
    the online network selects double-DQN actions with its own noise sample, then learns with a
    fresh one; the target network uses the sample drawn when the update began."""

    def __init__(
        self,
        *,
        online: QNetwork,
        target: QNetwork,
        target_rule: TargetRule,
        noise: NoiseControl | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.online_network = online
        self.target_network = target
        self.target_rule = target_rule
        self.noise = noise if noise is not None else NoiseControl(resample_on_update=False)
        self.generator = generator

    def bootstrap(self, batch: Batch) -> tuple[HeadOutput, NextPolicy]:
        """``(target network output at next_obs, the rule's policy over next actions)``, without gradient."""
        rule, online, target = self.target_rule, self.online_network, self.target_network
        with torch.no_grad():
            online_next = None
            if rule.needs_online_next:
                self.noise.before_selection(online)
                online_next = online(batch.next_obs, role="select", generator=self.generator)
            target_next = target(batch.next_obs, role="target", generator=self.generator)
            target_obs = target(batch.obs, role="target", generator=self.generator) if rule.needs_target_obs else None
            policy = rule(target_next=target_next, online_next=online_next, target_obs=target_obs,
                          actions=batch.actions)
        if rule.needs_online_next:
            self.noise.after_selection(online)
        return target_next, policy

    def online(self, obs: torch.Tensor) -> HeadOutput:
        """The online network's output on ``obs``, with gradient (the learning pass)."""
        return self.online_network(obs, role="online", generator=self.generator)


class Loss(Protocol):
    """A loss (group ``loss``): ``loss(nets, batch) -> LossOutput``.

    ``accepts``: the head output kinds it can learn from (``scalar``, ``categorical``,
    ``quantile``, ...); validation pairs heads and losses from these declarations.
    """

    accepts: ClassVar[frozenset[str]]

    def __call__(self, nets: LearnerNetworks, batch: Batch) -> LossOutput: ...


def check_kind(loss: Loss, name: str, output: HeadOutput) -> None:
    """Refuse an output kind the loss does not declare, naming the kinds it takes."""
    if output.kind not in loss.accepts:
        raise ValueError(f"loss {name!r} learns from {' or '.join(sorted(loss.accepts))} head outputs, "
                         f"got a {output.kind} one; choose a loss that accepts {output.kind!r} outputs")
