"""Bootstrap-action rules (group ``target``): which next action the target value is taken at.

For distributional heads the q-values passed in are expectations over the support.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch

from rlkit.registry import register


class TargetRule(Protocol):
    """Chooses next actions ``[B]`` from next-state q-values ``[B, A]``."""

    needs_online: bool

    def select(self, online_next_q: torch.Tensor | None, target_next_q: torch.Tensor) -> torch.Tensor: ...


@register("target", "plain")
class PlainTarget:
    """DQN (Mnih et al. 2015): ``a' = argmax_a Q_target(s', a)``."""

    needs_online: ClassVar[bool] = False

    def select(self, online_next_q: torch.Tensor | None, target_next_q: torch.Tensor) -> torch.Tensor:
        return target_next_q.argmax(dim=1)  # [B, A] -> [B] int64


@register("target", "double")
class DoubleTarget:
    """Double DQN (van Hasselt et al. 2016): ``a' = argmax_a Q_online(s', a)``, evaluated by the
    target network in the loss."""

    needs_online: ClassVar[bool] = True

    def select(self, online_next_q: torch.Tensor | None, target_next_q: torch.Tensor) -> torch.Tensor:
        if online_next_q is None:
            raise ValueError("the double target rule needs the online network's next-state q-values")
        if online_next_q.shape != target_next_q.shape:
            raise ValueError(
                f"online and target q-values differ in shape: {tuple(online_next_q.shape)} "
                f"vs {tuple(target_next_q.shape)}"
            )
        return online_next_q.argmax(dim=1)  # [B, A] -> [B] int64
