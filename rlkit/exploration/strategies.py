"""Action-selection exploration: epsilon-greedy, or greedy on a noisy network.

Parameter noise itself lives in the ``network/layer`` group, so noisy layers with epsilon-greedy
are expressible too.
"""

from __future__ import annotations

from typing import Literal

from rlkit.exploration.schedules import ExponentialSchedule, LinearSchedule
from rlkit.registry import register


@register("exploration", "epsilon")
class EpsilonGreedy:
    """Epsilon-greedy with a decay over agent steps (Mnih et al. 2015).

    Epsilon is ``start`` until agent step ``start_step``, then decays to ``end`` over ``decay_steps``
    agent steps: ``epsilon(step) = schedule(step - start_step)``. Dopamine holds epsilon at 1 until
    learning starts (``linearly_decaying_epsilon``'s ``warmup_steps``); ``start_step=0`` decays from step 0.
    """

    def __init__(
        self,
        *,
        start: float = 1.0,
        end: float = 0.01,
        decay_steps: int = 250_000,
        start_step: int = 0,
        schedule: Literal["linear", "exponential"] = "linear",
    ) -> None:
        for key, value in (("start", start), ("end", end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"exploration.{key} must be a probability in [0, 1], got {value}")
        self.start_step = int(start_step)
        kinds = {"linear": LinearSchedule, "exponential": ExponentialSchedule}
        if schedule not in kinds:
            raise ValueError(f"exploration.schedule must be one of {sorted(kinds)}, got {schedule!r}")
        self.schedule = kinds[schedule](start=start, end=end, duration=decay_steps)

    def epsilon(self, step: int) -> float:
        return self.schedule(step - self.start_step)


@register("exploration", "noisy")
class NoisyExploration:
    """Greedy on a noisy network (Fortunato et al. 2018): exploration comes from parameter noise."""

    def epsilon(self, step: int) -> float:
        return 0.0
