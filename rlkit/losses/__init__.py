"""Losses (group ``loss``): ``loss(nets, batch) -> LossOutput``; each declares the head output kinds it accepts.

Every target is ``rewards + discounts * bootstrap(next_obs)`` (n-step returns and ``gamma^m`` or 0
are already folded into the batch, see :class:`~rlkit.types.Batch`); the bootstrap mixes the target
network's next-state output under the target rule's policy (:mod:`rlkit.targets`).
"""

from rlkit.losses.base import LearnerNetworks, Loss, check_kind
from rlkit.losses.categorical import CategoricalLoss, project_distribution, target_distribution
from rlkit.losses.quantile import QuantileHuberLoss, quantile_huber
from rlkit.losses.td import TDLoss

__all__ = [
    "CategoricalLoss",
    "LearnerNetworks",
    "Loss",
    "QuantileHuberLoss",
    "TDLoss",
    "check_kind",
    "project_distribution",
    "quantile_huber",
    "target_distribution",
]
