"""Optimisers (registry group ``optim``)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from rlkit.registry import register


@register("optim", "adam")
def adam(
    *,
    params: Iterable[torch.nn.Parameter],
    lr: float = 1e-4,
    eps: float = 1.5e-4,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015); Rainbow uses lr 6.25e-5, eps 1.5e-4 (Hessel et al. 2018, Table 1)."""
    return torch.optim.Adam(params, lr=lr, eps=eps, betas=tuple(betas), weight_decay=weight_decay)


@register("optim", "rmsprop")
def rmsprop(
    *,
    params: Iterable[torch.nn.Parameter],
    lr: float = 2.5e-4,
    alpha: float = 0.95,
    eps: float = 0.01,
    momentum: float = 0.0,
    centered: bool = True,
) -> torch.optim.RMSprop:
    """Centred RMSProp as in the Nature DQN (Mnih et al. 2015: lr 2.5e-4, decay 0.95, eps 0.01)."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered)
