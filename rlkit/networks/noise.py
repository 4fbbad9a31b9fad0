"""When parameter noise is drawn (NoisyNet, Fortunato et al. 2018, Algorithm 1).

One :class:`NoiseControl` owns every resampling decision, so acting, evaluation and the losses
never reset noise themselves: acting draws a fresh sample before each action; an update draws one
for the online and one for the target network when it begins, and, when the target rule selects
next actions with the online network (double DQN), a separate sample for that selection followed by
a fresh one for the learning pass. Networks without noisy layers ignore all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Noisy(Protocol):
    def reset_noise(self) -> None: ...


@dataclass
class NoiseControl:
    """``resample_on_act``: fresh noise for the acting network before each action.
    ``resample_on_update``: fresh, independent noise for the online, target and action-selection
    passes of every gradient update. ``eval_mean``: evaluate with the mean weights (no noise)."""

    resample_on_act: bool = True
    resample_on_update: bool = True
    eval_mean: bool = False

    def begin_update(self, online: Noisy, target: Noisy) -> None:
        if self.resample_on_update:
            online.reset_noise()
            target.reset_noise()

    def before_selection(self, online: Noisy) -> None:
        """Before the online network chooses next actions: a sample of its own for the selection."""
        if self.resample_on_update:
            online.reset_noise()

    def after_selection(self, online: Noisy) -> None:
        """After the selection: a fresh sample for the learning pass."""
        if self.resample_on_update:
            online.reset_noise()
