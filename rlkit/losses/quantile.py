"""Quantile regression loss for quantile heads: QR-DQN (Dabney et al. 2018a) and IQN (Dabney et al. 2018b)."""

from __future__ import annotations

from typing import ClassVar

import torch

from rlkit.losses.base import LearnerNetworks, check_kind
from rlkit.networks.outputs import QuantileValues
from rlkit.registry import register
from rlkit.targets import gather_actions
from rlkit.types import Batch, LossOutput


def quantile_huber(online: torch.Tensor, taus: torch.Tensor, targets: torch.Tensor, kappa: float) -> torch.Tensor:
    """Per-sample quantile Huber loss [B] (Dabney et al. 2018a, eq. 10; 2018b, eq. 3).

    ``online`` [B, N] quantile values at fractions ``taus`` [B, N]; ``targets`` [B, N'] samples of
    the target return. With ``u_ij = targets_j - online_i``:
    ``rho_ij = |tau_i - 1{u_ij < 0}| L_kappa(u_ij) / kappa`` where ``L_kappa`` is the Huber loss
    (``u^2 / 2`` for ``|u| <= kappa``, else ``kappa (|u| - kappa / 2)``), and the loss is
    ``sum_i mean_j rho_ij``. ``kappa = 0`` gives the plain quantile (pinball) loss ``|tau_i - 1{u<0}| |u|``.
    """
    u = targets.unsqueeze(1) - online.unsqueeze(2)  # [B, N, N']
    abs_u = u.abs()
    if kappa > 0:
        huber = torch.where(abs_u <= kappa, 0.5 * u.square(), kappa * (abs_u - 0.5 * kappa)) / kappa
    else:
        huber = abs_u
    weight = (taus.unsqueeze(2) - (u.detach() < 0).to(u.dtype)).abs()  # [B, N, N']
    return (weight * huber).mean(dim=2).sum(dim=1)  # [B]


@register("loss", "quantile_huber")
class QuantileHuberLoss:
    """Quantile regression with the Huber loss, for quantile heads (QR-DQN's fixed fractions or
    IQN's sampled ones): ``loss = mean_b(w_b * sum_i mean_j rho^kappa_{tau_i}(T_j - theta_i))`` with
    target samples ``T_j = r + discount * sum_a' pi(a') (theta'_j(s', a') + bonus(a'))`` from the
    target network. PER priority: each sample's loss (before the IS weight).
    """

    accepts: ClassVar[frozenset[str]] = frozenset({"quantile"})

    def __init__(self, *, kappa: float = 1.0) -> None:
        if not kappa >= 0:
            raise ValueError(f"loss 'quantile_huber' kappa must be >= 0 (0: no Huber smoothing), got {kappa}")
        self.kappa = float(kappa)

    def __call__(self, nets: LearnerNetworks, batch: Batch) -> LossOutput:
        target_next, policy = nets.bootstrap(batch)
        check_kind(self, "quantile_huber", target_next)
        assert isinstance(target_next, QuantileValues)
        with torch.no_grad():
            next_values = policy.expected(target_next.quantiles)  # [B, N']
            targets = policy.rewards(batch).unsqueeze(1) + batch.discounts.unsqueeze(1) * next_values  # [B, N']
        online = nets.online(batch.obs)
        assert isinstance(online, QuantileValues)
        taken = gather_actions(online.quantiles, batch.actions)  # [B, N]
        per_sample = quantile_huber(taken, online.taus, targets.to(taken.dtype), self.kappa)  # [B]
        loss = (batch.weights * per_sample).mean()
        metrics = {"losses/q_values": taken.detach().mean()}
        return LossOutput(loss=loss, priorities=per_sample.detach(), metrics=metrics)
