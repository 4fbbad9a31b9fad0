"""Scalar TD loss (DQN, Mnih et al. 2015)."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from rlkit.losses.base import LearnerNetworks, check_kind
from rlkit.registry import register
from rlkit.targets import gather_actions
from rlkit.types import Batch, LossOutput


@register("loss", "td")
class TDLoss:
    """Scalar TD loss on q-values (Mnih et al. 2015): Huber (``delta``) or squared error ``td^2``.

    ``loss = mean_b(w_b * l(y_b - Q(s_b, a_b)))`` with IS weights ``w`` and
    ``y = r + discount * sum_a' pi(a') (Q_target(s', a') + bonus(a'))``; priorities ``|td|``.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({"scalar"})

    def __init__(self, *, kind: Literal["huber", "mse"] = "huber", huber_delta: float = 1.0) -> None:
        if kind not in ("huber", "mse"):
            raise ValueError(f"kind must be 'huber' or 'mse', got {kind!r}")
        if huber_delta <= 0:
            raise ValueError(f"huber_delta must be positive, got {huber_delta}")
        self.kind = kind
        self.huber_delta = huber_delta

    def __call__(self, nets: LearnerNetworks, batch: Batch) -> LossOutput:
        target_next, policy = nets.bootstrap(batch)
        check_kind(self, "td", target_next)
        with torch.no_grad():
            targets = policy.rewards(batch) + batch.discounts * policy.expected(target_next.q_values)  # [B]
        q_taken = gather_actions(nets.online(batch.obs).q_values, batch.actions)  # [B]
        targets = targets.to(q_taken.dtype)
        td = targets - q_taken  # [B]
        if self.kind == "huber":
            per_sample = F.huber_loss(q_taken, targets, reduction="none", delta=self.huber_delta)
        else:
            per_sample = td.square()
        loss = (batch.weights * per_sample).mean()
        td_abs = td.detach().abs()  # [B]
        metrics = {"losses/q_values": q_taken.detach().mean(), "losses/td_error_abs": td_abs.mean()}
        return LossOutput(loss=loss, priorities=td_abs, metrics=metrics)
