"""Schedules over agent steps. Stateless: the value is a pure function of the step."""

from __future__ import annotations

import math
from typing import Protocol


class Schedule(Protocol):
    def __call__(self, step: int) -> float: ...


class LinearSchedule:
    """``start`` -> ``end`` linearly over ``duration`` agent steps, then ``end`` (Mnih et al. 2015)."""

    def __init__(self, *, start: float, end: float, duration: int) -> None:
        if duration < 0:
            raise ValueError(f"schedule duration must be >= 0 agent steps, got {duration}")
        self.start, self.end, self.duration = float(start), float(end), int(duration)

    def __call__(self, step: int) -> float:
        if self.duration == 0 or step >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * max(step, 0) / self.duration


class ExponentialSchedule:
    """Geometric decay ``start * (end/start) ** (step/duration)``, reaching ``end`` at ``duration``."""

    def __init__(self, *, start: float, end: float, duration: int) -> None:
        if start <= 0 or end <= 0:
            raise ValueError("an exponential schedule needs start > 0 and end > 0")
        if duration < 0:
            raise ValueError(f"schedule duration must be >= 0 agent steps, got {duration}")
        self.start, self.end, self.duration = float(start), float(end), int(duration)

    def __call__(self, step: int) -> float:
        if self.duration == 0 or step >= self.duration:
            return self.end
        frac = max(step, 0) / self.duration
        return math.exp(math.log(self.start) + frac * (math.log(self.end) - math.log(self.start)))
