"""A run's counters and clocks: where the loop is, what is due next, and where the time went."""

from __future__ import annotations

import math
import time
from typing import Any

from rlkit.training.cadence import Cadence


class LoopState:
    """The loop's counters (agent steps unless named otherwise); part of a checkpoint.

    ``update``, ``log`` and ``evaluation`` are the cadences of the learner's update cycles, of the training
    metrics and of the periodic evaluations; the checkpoint stores their next steps as
    ``next_update_step``, ``next_log_step`` and ``next_eval_step``.
    """

    def __init__(self, *, update: Cadence, log: Cadence, evaluation: Cadence) -> None:
        self.step = 0
        self.update = update
        self.log = log
        self.evaluation = evaluation
        self.eval_count = 0
        self.best_eval = -math.inf
        self.solved_at_step: int | None = None
        # seconds over the whole run (all sessions): wall = training + evaluation + checkpoint writing
        self.wall_time_s = 0.0
        self.train_time_s = 0.0
        self.eval_time_s = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "next_update_step": self.update.next_step,
            "next_log_step": self.log.next_step,
            "next_eval_step": self.evaluation.next_step,
            "eval_count": self.eval_count,
            "best_eval": self.best_eval,
            "solved_at_step": self.solved_at_step,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
            "eval_time_s": self.eval_time_s,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        cadences = {"next_update_step": self.update, "next_log_step": self.log, "next_eval_step": self.evaluation}
        for key, value in state.items():
            if key in cadences:
                cadences[key].next_step = value
            else:
                setattr(self, key, value)


class RunClock:
    """Splits the run's wall time into training time and pauses (evaluations, checkpoint writing)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Start counting from now, with no pauses."""
        self._mark = time.perf_counter()
        self._paused_s = 0.0  # evaluation and checkpoint seconds since the last account()

    def pause(self, seconds: float) -> None:
        """Count ``seconds`` of the time since the last :meth:`account` as not training."""
        self._paused_s += seconds

    def account(self, state: LoopState) -> float:
        """Move the time since the last call into ``state``'s clocks; returns its training seconds
        (wall time less evaluation and checkpoint writing)."""
        now = time.perf_counter()
        wall = now - self._mark
        train_s = max(wall - self._paused_s, 0.0)
        state.wall_time_s += wall
        state.train_time_s += train_s
        self._mark, self._paused_s = now, 0.0
        return train_s
