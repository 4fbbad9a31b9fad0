"""Every-N-steps cadences: the step arithmetic of the training loop's updates, logs, evals and checkpoints."""

from __future__ import annotations

import math

from rlkit.training.cadence import Cadence
from rlkit.training.run_state import LoopState


def due_steps(cadence: Cadence, steps: range) -> list[int]:
    """The steps at which a log/eval/checkpoint style cadence fires (missed occurrences skipped)."""
    fired = []
    for step in steps:
        if cadence.due(step):
            fired.append(step)
            cadence.advance_past(step)
    return fired


def update_cycles(cadence: Cadence, steps: range) -> list[tuple[int, int]]:
    """(step, cycles run) where the learner's catch-up cadence fires."""
    fired = []
    for step in steps:
        cycles = 0
        while cadence.due(step):
            cycles += 1
            cadence.advance()
        if cycles:
            fired.append((step, cycles))
    return fired


def test_first_due_at_every_then_each_period_reached_by_a_vector_step():
    # 3 envs: agent steps 3, 6, 9, ...; every 100 fires on the first step at or past 100, 200, ...
    assert due_steps(Cadence(100), range(3, 610, 3)) == [102, 201, 300, 402, 501, 600]
    assert due_steps(Cadence(250), range(3, 1501, 3)) == [252, 501, 750, 1002, 1251, 1500]


def test_single_env_fires_exactly_on_multiples():
    assert due_steps(Cadence(4), range(1, 17)) == [4, 8, 12, 16]


def test_advance_past_skips_missed_periods_and_keeps_the_grid():
    cadence = Cadence(100)
    assert due_steps(cadence, range(250, 1001, 250)) == [250, 500, 750, 1000]
    # 250 -> next 300, 500 -> 600, 750 -> 800, 1000 -> 1100: always the grid's first point after the step
    assert cadence.next_step == 1100


def test_first_step_sets_the_start_of_the_grid():
    cadence = Cadence(4, first=200)  # updates: from max(learning_starts, batch_size), then every 4 steps
    assert update_cycles(cadence, range(3, 220, 3)) == [(201, 1), (204, 1), (210, 1), (213, 1), (216, 1)]
    assert cadence.next_step == 220


def test_advance_catches_up_one_period_at_a_time():
    cadence = Cadence(1, first=5)
    assert update_cycles(cadence, range(9, 13, 3)) == [(9, 5), (12, 3)]
    assert update_cycles(Cadence(2, first=4), range(8, 17, 8)) == [(8, 3), (16, 4)]


def test_zero_or_negative_every_is_never_due():
    for every in (0, -5):
        cadence = Cadence(every, first=3)
        assert cadence.next_step == math.inf
        assert not cadence.due(10**12)


def test_a_resumed_cadence_continues_the_same_sequence():
    whole = due_steps(Cadence(100), range(3, 1000, 3))
    before = Cadence(100)
    first_part = due_steps(before, range(3, 451, 3))
    resumed = Cadence(100)
    resumed.next_step = before.next_step  # what a checkpoint saves and a resumed run sets back
    assert first_part + due_steps(resumed, range(453, 1000, 3)) == whole


def test_loop_state_checkpoints_its_cadences_as_next_steps():
    state = LoopState(update=Cadence(1, first=32), log=Cadence(1000), evaluation=Cadence(0))
    saved = state.state_dict()
    assert list(saved) == ["step", "next_update_step", "next_log_step", "next_eval_step", "eval_count", "best_eval",
                           "solved_at_step", "wall_time_s", "train_time_s", "eval_time_s"]
    assert (saved["next_update_step"], saved["next_log_step"], saved["next_eval_step"]) == (32, 1000, math.inf)

    saved.update(step=40_000, next_update_step=40_001, next_log_step=41_000, next_eval_step=50_000, eval_count=1)
    restored = LoopState(update=Cadence(1, first=32), log=Cadence(1000), evaluation=Cadence(25_000))
    restored.load_state_dict(saved)
    assert (restored.step, restored.update.next_step, restored.log.next_step, restored.evaluation.next_step) == (
        40_000, 40_001, 41_000, 50_000)
    assert restored.state_dict() == saved
