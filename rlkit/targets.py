"""Target rules (group ``target``): the policy over next actions that a loss bootstraps from.

Every loss builds its target as ``rewards + discounts * sum_a' pi(a'|s') (Z(s', a') + bonus(a'))``
from the target network's next-state output ``Z`` (q-values, atoms or quantiles). A rule returns
that ``pi`` as [B, A] weights in a :class:`NextPolicy`: one-hot for the greedy rules (plain, double),
a softmax for Munchausen's soft target, which also adds per-action and reward bonuses. A new rule
is one registered class with the attributes and ``__call__`` of :class:`TargetRule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F

from rlkit.networks.outputs import HeadOutput
from rlkit.registry import register
from rlkit.types import Batch


def gather_actions(values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``values[b, actions[b]]``: [B, A] -> [B] or [B, A, N] -> [B, N]."""
    index = actions.long().view(-1, 1, *([1] * (values.dim() - 2)))
    index = index.expand(-1, 1, *values.shape[2:])
    return values.gather(1, index).squeeze(1)


@dataclass(frozen=True)
class NextPolicy:
    """The bootstrap a target rule chose.

    ``weights`` [B, A]: probability of each next action. ``actions`` [B]: the action when the policy
    is greedy (one-hot weights), so losses may gather instead of mixing (same values, less work).
    ``next_bonus`` [B, A]: added to each next action's value before mixing (a soft target's
    ``-tau log pi``). ``reward_bonus`` [B]: added to the batch rewards (Munchausen's term).
    """

    weights: torch.Tensor
    actions: torch.Tensor | None = None
    next_bonus: torch.Tensor | None = None
    reward_bonus: torch.Tensor | None = None

    def expected(self, values: torch.Tensor) -> torch.Tensor:
        """``sum_a' pi(a') (values(a') + bonus(a'))``: [B, A] -> [B], or [B, A, N] -> [B, N] per atom."""
        if self.actions is not None and self.next_bonus is None:
            return gather_actions(values, self.actions)
        extra_dims = (1,) * (values.dim() - 2)
        if self.next_bonus is not None:
            values = values + self.next_bonus.view(*self.next_bonus.shape, *extra_dims)
        return (self.weights.view(*self.weights.shape, *extra_dims) * values).sum(dim=1)

    def rewards(self, batch: Batch) -> torch.Tensor:
        """The batch rewards [B], plus the rule's reward bonus if it has one."""
        return batch.rewards if self.reward_bonus is None else batch.rewards + self.reward_bonus


def greedy(actions: torch.Tensor, num_actions: int, dtype: torch.dtype) -> NextPolicy:
    """A one-hot policy on ``actions`` [B]."""
    return NextPolicy(weights=F.one_hot(actions, num_actions).to(dtype), actions=actions)


class TargetRule(Protocol):
    """Chooses the policy over next actions.

    ``needs_online_next``: the rule reads the online network at ``next_obs`` (passed as
    ``online_next``). ``needs_target_obs``: it reads the target network at ``obs``
    (``target_obs``). ``actions`` are the batch's taken actions [B].
    """

    needs_online_next: bool
    needs_target_obs: bool

    def __call__(
        self,
        *,
        target_next: HeadOutput,
        online_next: HeadOutput | None,
        target_obs: HeadOutput | None,
        actions: torch.Tensor,
    ) -> NextPolicy: ...


@register("target", "plain")
class PlainTarget:
    """DQN (Mnih et al. 2015): ``a' = argmax_a Q_target(s', a)``."""

    needs_online_next: ClassVar[bool] = False
    needs_target_obs: ClassVar[bool] = False

    def __call__(self, *, target_next: HeadOutput, online_next: HeadOutput | None = None,
                 target_obs: HeadOutput | None = None, actions: torch.Tensor | None = None) -> NextPolicy:
        q = target_next.q_values  # [B, A]
        return greedy(q.argmax(dim=1), q.shape[1], q.dtype)


@register("target", "double")
class DoubleTarget:
    """Double DQN (van Hasselt et al. 2016): ``a' = argmax_a Q_online(s', a)``, valued by the target
    network."""

    needs_online_next: ClassVar[bool] = True
    needs_target_obs: ClassVar[bool] = False

    def __call__(self, *, target_next: HeadOutput, online_next: HeadOutput | None = None,
                 target_obs: HeadOutput | None = None, actions: torch.Tensor | None = None) -> NextPolicy:
        if online_next is None:
            raise ValueError("the double target rule needs the online network's next-state output")
        online_q, target_q = online_next.q_values, target_next.q_values  # [B, A]
        if online_q.shape != target_q.shape:
            raise ValueError(f"online and target q-values differ in shape: {tuple(online_q.shape)} "
                             f"vs {tuple(target_q.shape)}")
        return greedy(online_q.argmax(dim=1), target_q.shape[1], target_q.dtype)


def scaled_log_softmax(q: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau log softmax(q / tau)`` over actions [B, A], computed as ``q - max q - tau logsumexp((q - max q) / tau)``
    so that small temperatures do not overflow."""
    shifted = q - q.max(dim=1, keepdim=True).values
    return shifted - tau * torch.logsumexp(shifted / tau, dim=1, keepdim=True)


@register("target", "munchausen")
class MunchausenTarget:
    """Munchausen RL (Vieillard, Pietquin & Geist 2020, eq. 2 and Alg. 1): a soft target plus the
    scaled log-policy of the taken action, both from the target network's policy
    ``pi = softmax(q_target / tau)``:

    ``y = r + alpha clip(tau log pi(a_t|s_t), l0, 0) + gamma sum_a' pi(a'|s') (Z(s', a') - tau log pi(a'|s'))``.

    With n-step returns (the paper uses 1 step) the Munchausen term is added once, for the first
    transition, to the n-step return, and the soft bootstrap is taken at ``s_{t+n}``; the log-policy
    terms of the intermediate steps are not added (the replay does not keep those states).
    """

    needs_online_next: ClassVar[bool] = False
    needs_target_obs: ClassVar[bool] = True

    def __init__(self, *, alpha: float = 0.9, tau: float = 0.03, l0: float = -1.0) -> None:
        if not tau > 0:
            raise ValueError(f"munchausen tau (entropy temperature) must be > 0, got {tau}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"munchausen alpha must be in [0, 1], got {alpha}")
        if not l0 < 0:
            raise ValueError(f"munchausen l0 (clip of the log-policy term) must be < 0, got {l0}")
        self.alpha, self.tau, self.l0 = float(alpha), float(tau), float(l0)

    def __call__(self, *, target_next: HeadOutput, online_next: HeadOutput | None = None,
                 target_obs: HeadOutput | None = None, actions: torch.Tensor | None = None) -> NextPolicy:
        if target_obs is None or actions is None:
            raise ValueError("the munchausen target rule needs the target network's output at obs and the actions")
        next_log_pi = scaled_log_softmax(target_next.q_values, self.tau)  # [B, A], tau log pi(.|s')
        log_pi = gather_actions(scaled_log_softmax(target_obs.q_values, self.tau), actions)  # [B]
        return NextPolicy(
            weights=(next_log_pi / self.tau).exp(),
            next_bonus=-next_log_pi,
            reward_bonus=self.alpha * log_pi.clamp(self.l0, 0.0),
        )
