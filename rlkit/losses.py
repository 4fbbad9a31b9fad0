"""Losses (group ``loss``): a batch and two networks -> :class:`~rlkit.types.LossOutput`.

Every target is ``rewards + discounts * bootstrap(next_obs)`` (n-step returns and ``gamma^m`` or 0
are already folded into the batch, see :class:`~rlkit.types.Batch`). The next action comes from a
target rule (``plain`` | ``double``). Noise handling follows NoisyNet Algorithm 1 (Fortunato et al.
2018): the online network's action selection for the target uses its own noise sample, and the
learning pass a fresh one.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from rlkit.networks.model import QNetwork
from rlkit.registry import register
from rlkit.targets import TargetRule
from rlkit.types import Batch, LossOutput


def _next_actions(
    *,
    online: QNetwork,
    target: QNetwork,
    next_obs: torch.Tensor,
    target_rule: TargetRule,
    resample_selection_noise: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(target network output on next_obs, next actions [B])``.

    Runs under ``no_grad``. When the rule uses the online network and ``resample_selection_noise``
    is set, the online noise is resampled before selection and again afterwards, so the learning
    pass's noise is independent of the selection noise.
    """
    with torch.no_grad():
        online_next_q = None
        if target_rule.needs_online:
            if resample_selection_noise:
                online.reset_noise()
            online_next_q = online.q_values(next_obs)  # [B, A]
        target_next_out = target(next_obs)  # [B, A] | [B, A, N]
        target_next_q = target.head.q_values(target_next_out)  # [B, A]
        next_actions = target_rule.select(online_next_q, target_next_q)  # [B]
    if resample_selection_noise and target_rule.needs_online:
        online.reset_noise()
    return target_next_out, next_actions


def _gather_actions(values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``values[b, actions[b]]``: [B, A] -> [B] or [B, A, N] -> [B, N]."""
    index = actions.long().view(-1, 1, *([1] * (values.dim() - 2)))
    index = index.expand(-1, 1, *values.shape[2:])
    return values.gather(1, index).squeeze(1)


@register("loss", "td")
class TDLoss:
    """Scalar TD loss on q-values (Mnih et al. 2015): Huber (``delta``) or squared error ``td^2``.

    ``loss = mean_b(w_b * l(y_b - Q(s_b, a_b)))`` with IS weights ``w``; priorities ``|td|``.
    """

    def __init__(self, *, kind: Literal["huber", "mse"] = "huber", huber_delta: float = 1.0) -> None:
        if kind not in ("huber", "mse"):
            raise ValueError(f"kind must be 'huber' or 'mse', got {kind!r}")
        if huber_delta <= 0:
            raise ValueError(f"huber_delta must be positive, got {huber_delta}")
        self.kind = kind
        self.huber_delta = huber_delta

    def __call__(
        self,
        *,
        online: QNetwork,
        target: QNetwork,
        batch: Batch,
        target_rule: TargetRule,
        resample_selection_noise: bool = True,
    ) -> LossOutput:
        if online.distributional or target.distributional:
            raise ValueError(
                "loss 'td' needs a scalar head (q or dueling); use loss 'categorical' "
                "with a distributional head (c51 or dueling_c51)"
            )
        target_next_q, next_actions = _next_actions(
            online=online,
            target=target,
            next_obs=batch.next_obs,
            target_rule=target_rule,
            resample_selection_noise=resample_selection_noise,
        )
        with torch.no_grad():
            bootstrap = _gather_actions(target_next_q, next_actions)  # [B]
            targets = batch.rewards + batch.discounts * bootstrap  # [B]
        q_taken = _gather_actions(online(batch.obs), batch.actions)  # [B]
        targets = targets.to(q_taken.dtype)
        td = targets - q_taken  # [B]
        if self.kind == "huber":
            per_sample = F.huber_loss(q_taken, targets, reduction="none", delta=self.huber_delta)
        else:
            per_sample = td.square()
        loss = (batch.weights * per_sample).mean()
        td_abs = td.detach().abs()  # [B]
        values = torch.stack([loss.detach(), q_taken.detach().mean(), td_abs.mean()]).tolist()
        metrics = {"losses/td_loss": values[0], "losses/q_values": values[1], "losses/td_error_abs": values[2]}
        return LossOutput(loss=loss, priorities=td_abs, metrics=metrics)


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


@register("loss", "categorical")
class CategoricalLoss:
    """Distributional (C51) loss (Bellemare et al. 2017): cross-entropy between the projected
    target distribution of the chosen next action and the online distribution of the taken action.

    ``loss = mean_b(w_b * CE_b)``. PER priorities (``priority``): ``kl``, the KL divergence
    ``CE_b - H(target_b)`` that Rainbow prioritises by (Hessel et al. 2018, Sec. 3), or
    ``cross_entropy``, ``CE_b`` itself, as Dopamine's Rainbow does. Both give the same gradient;
    they differ by the target distribution's entropy, which is not zero for a spread target.
    """

    def __init__(self, *, priority: Literal["kl", "cross_entropy"] = "cross_entropy") -> None:  # config: c51.priority
        if priority not in ("kl", "cross_entropy"):
            raise ValueError(f"loss 'categorical' priority must be 'kl' or 'cross_entropy', got {priority!r}")
        self.priority = priority

    def __call__(
        self,
        *,
        online: QNetwork,
        target: QNetwork,
        batch: Batch,
        target_rule: TargetRule,
        resample_selection_noise: bool = True,
    ) -> LossOutput:
        if not (online.distributional and target.distributional):
            raise ValueError(
                "loss 'categorical' needs a distributional head (c51 or dueling_c51); "
                "use loss 'td' with a scalar head (q or dueling)"
            )
        support = online.support
        assert support is not None
        online_atoms = (online.head.num_atoms, online.head.v_min, online.head.v_max)
        target_atoms = (target.head.num_atoms, target.head.v_min, target.head.v_max)
        if online_atoms != target_atoms:  # compared on the host: no device sync per update
            raise ValueError(
                f"online and target supports differ: (num_atoms, v_min, v_max) = {online_atoms} vs {target_atoms}"
            )
        target_next_logits, next_actions = _next_actions(
            online=online,
            target=target,
            next_obs=batch.next_obs,
            target_rule=target_rule,
            resample_selection_noise=resample_selection_noise,
        )
        with torch.no_grad():
            next_probs = F.softmax(_gather_actions(target_next_logits, next_actions), dim=-1)  # [B, N]
            target_probs = project_distribution(
                next_probs, batch.rewards.to(next_probs.dtype), batch.discounts.to(next_probs.dtype), support
            )  # [B, N]
        logits_taken = _gather_actions(online(batch.obs), batch.actions)  # [B, N]
        log_probs = F.log_softmax(logits_taken, dim=-1)  # [B, N]
        cross_entropy = -(target_probs * log_probs).sum(dim=-1)  # [B]
        loss = (batch.weights * cross_entropy).mean()
        with torch.no_grad():
            q_taken = (log_probs.exp() * support).sum(dim=-1)  # [B]
            values = torch.stack([loss.detach(), q_taken.mean()]).tolist()
        metrics = {"losses/td_loss": values[0], "losses/q_values": values[1]}
        priorities = cross_entropy.detach()  # [B]
        if self.priority == "kl":  # KL = CE - H(target), with 0 log 0 = 0; clamped against round-off below 0
            entropy = -torch.special.xlogy(target_probs, target_probs).sum(dim=-1)  # [B]
            priorities = (priorities - entropy).clamp_min_(0.0)
        return LossOutput(loss=loss, priorities=priorities, metrics=metrics)
