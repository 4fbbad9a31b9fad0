"""Distributional C51 loss (Bellemare et al. 2017)."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from rlkit.losses.base import LearnerNetworks, check_kind
from rlkit.networks.outputs import CategoricalValues
from rlkit.registry import register
from rlkit.targets import NextPolicy, gather_actions
from rlkit.types import Batch, LossOutput


def project_distribution(
    next_probs: torch.Tensor,
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    support: torch.Tensor,
) -> torch.Tensor:
    """Project ``rewards + discounts * Z`` onto ``support`` (Bellemare et al. 2017, Algorithm 1).

    ``next_probs`` [B, N] are probabilities over the evenly spaced ``support`` [N]; ``rewards`` and
    ``discounts`` are [B]. Each shifted atom ``Tz`` is clamped to ``[v_min, v_max]`` and its mass
    split linearly between its two neighbouring atoms (all of it to one atom when ``Tz`` lands on
    it exactly). Returns [B, N] probabilities; mass is conserved.
    """
    num_atoms = support.numel()
    v_min, v_max = support[0], support[-1]
    delta_z = (v_max - v_min) / (num_atoms - 1)
    tz = rewards.unsqueeze(1) + discounts.unsqueeze(1) * support.unsqueeze(0)  # [B, N]
    b = ((tz.clamp(v_min, v_max) - v_min) / delta_z).clamp(0, num_atoms - 1)  # [B, N] in [0, N-1]
    lower = b.floor()  # [B, N]
    upper_weight = b - lower  # [B, N]; 0 when b is an integer: all mass stays on `lower`
    lower_idx = lower.long()
    upper_idx = (lower_idx + 1).clamp(max=num_atoms - 1)
    projected = torch.zeros_like(next_probs)  # [B, N]
    projected.scatter_add_(1, lower_idx, next_probs * (1.0 - upper_weight))
    projected.scatter_add_(1, upper_idx, next_probs * upper_weight)
    return projected


def target_distribution(target_next: CategoricalValues, policy: NextPolicy, batch: Batch) -> torch.Tensor:
    """The projected target distribution [B, N] of ``r + discount * Z(s', a')`` under ``policy``.

    Without per-action bonuses every next action shares one shift, so the policy's mixture of next
    distributions is projected once; with bonuses (a soft target) each action's distribution is
    projected with its own shift and the projections are mixed.
    """
    support = target_next.support
    rewards = policy.rewards(batch)
    if policy.next_bonus is None:
        if policy.actions is not None:  # greedy: the chosen action's distribution
            next_probs = F.softmax(gather_actions(target_next.logits, policy.actions), dim=-1)  # [B, N]
        else:
            next_probs = policy.expected(F.softmax(target_next.logits, dim=-1))  # [B, N]
        return project_distribution(next_probs, rewards.to(next_probs.dtype), batch.discounts.to(next_probs.dtype),
                                    support)
    probs = F.softmax(target_next.logits, dim=-1)  # [B, A, N]
    batch_size, num_actions, num_atoms = probs.shape
    shifted_rewards = rewards.unsqueeze(1) + batch.discounts.unsqueeze(1) * policy.next_bonus  # [B, A]
    projected = project_distribution(
        probs.reshape(-1, num_atoms),
        shifted_rewards.reshape(-1).to(probs.dtype),
        batch.discounts.repeat_interleave(num_actions).to(probs.dtype),
        support,
    ).view(batch_size, num_actions, num_atoms)
    return (policy.weights.unsqueeze(-1) * projected).sum(dim=1)  # [B, N]


@register("loss", "categorical")
class CategoricalLoss:
    """Distributional (C51) loss (Bellemare et al. 2017): cross-entropy between the projected
    target distribution and the online distribution of the taken action.

    ``loss = mean_b(w_b * CE_b)``. PER priorities (``priority``): ``kl``, the KL divergence
    ``CE_b - H(target_b)`` that Rainbow prioritises by (Hessel et al. 2018, Sec. 3), or
    ``cross_entropy``, ``CE_b`` itself, as Dopamine's Rainbow does. Both give the same gradient;
    they differ by the target distribution's entropy, which is not zero for a spread target.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({"categorical"})

    def __init__(self, *, priority: Literal["kl", "cross_entropy"] = "cross_entropy") -> None:  # config: c51.priority
        if priority not in ("kl", "cross_entropy"):
            raise ValueError(f"loss 'categorical' priority must be 'kl' or 'cross_entropy', got {priority!r}")
        self.priority = priority

    def __call__(self, nets: LearnerNetworks, batch: Batch) -> LossOutput:
        target_next, policy = nets.bootstrap(batch)
        check_kind(self, "categorical", target_next)
        assert isinstance(target_next, CategoricalValues)
        with torch.no_grad():
            target_probs = target_distribution(target_next, policy, batch)  # [B, N]
        online = nets.online(batch.obs)
        assert isinstance(online, CategoricalValues)
        bounds_differ = None not in (online.bounds, target_next.bounds) and online.bounds != target_next.bounds
        if online.logits.shape[-1] != target_next.logits.shape[-1] or bounds_differ:
            raise ValueError(f"online and target supports differ: (num_atoms, (v_min, v_max)) = "
                             f"{(online.logits.shape[-1], online.bounds)} vs "
                             f"{(target_next.logits.shape[-1], target_next.bounds)}")
        log_probs = F.log_softmax(gather_actions(online.logits, batch.actions), dim=-1)  # [B, N]
        cross_entropy = -(target_probs * log_probs).sum(dim=-1)  # [B]
        loss = (batch.weights * cross_entropy).mean()
        with torch.no_grad():
            q_taken = (log_probs.exp() * online.support).sum(dim=-1)  # [B]
        priorities = cross_entropy.detach()  # [B]
        if self.priority == "kl":  # KL = CE - H(target), with 0 log 0 = 0; clamped against round-off below 0
            entropy = -torch.special.xlogy(target_probs, target_probs).sum(dim=-1)  # [B]
            priorities = (priorities - entropy).clamp_min_(0.0)
        return LossOutput(loss=loss, priorities=priorities, metrics={"losses/q_values": q_taken.mean()})
