"""Things a run does every N agent steps: learner updates, logging, evaluation, checkpoints."""

from __future__ import annotations

import math


class Cadence:
    """Due every ``every`` agent steps, first at step ``first`` (``every`` by default).

    The loop advances in vector steps of several agent steps, so a scheduled step is rarely hit
    exactly: the cadence is *due* once the step has reached :attr:`next_step`. After acting on it,
    either :meth:`advance` (one period: a loop that catches up on every missed occurrence, as the
    learner's update cycles do) or :meth:`advance_past` (to the first scheduled step after the
    current one: missed occurrences are skipped, as logging, evaluation and checkpoints do).

    ``every <= 0`` means never: :attr:`next_step` is ``math.inf``. :attr:`next_step` is the whole
    state; a checkpoint saves it and a resumed run sets it back.
    """

    def __init__(self, every: int, *, first: int | None = None) -> None:
        self.every = int(every)
        self.next_step: int | float = (self.every if first is None else int(first)) if self.every > 0 else math.inf

    def due(self, step: int) -> bool:
        """Whether ``step`` has reached the next scheduled step."""
        return step >= self.next_step

    def advance(self) -> None:
        """Move the next scheduled step on by one period."""
        self.next_step += self.every

    def advance_past(self, step: int) -> None:
        """Move the next scheduled step on by whole periods, to the first one after ``step``."""
        self.next_step += self.every * ((step - self.next_step) // self.every + 1)

    def __repr__(self) -> str:
        return f"Cadence(every={self.every}, next_step={self.next_step})"
