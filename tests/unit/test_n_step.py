"""NStepAccumulator against hand-computed n-step returns, discounts and bootstrap observations.

Observations are 2-vectors ``[v, -v]`` labelled by ``v``; rows are compared as
``(obs label, action, return, next_obs label, discount)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pytest

from rlkit.replay.n_step import NStepAccumulator, Transitions

Row = tuple[float, int, float, float, float]


@dataclass
class Step:
    obs: list[float]  # per env labels
    rewards: list[float]
    next_obs: list[float]
    terminated: list[bool] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    expect: list[Row] = field(default_factory=list)  # rows of this call, env-major, oldest first


def _vec(labels: list[float]) -> np.ndarray:
    v = np.asarray(labels, dtype=np.float32)
    return np.stack([v, -v], axis=1)  # [E, 2]


def _actions(step: Step) -> np.ndarray:
    return np.asarray([int(o) % 7 for o in step.obs], dtype=np.int64)  # a deterministic label


def _run_step(acc: NStepAccumulator, step: Step) -> Transitions | None:
    num_envs = len(step.obs)
    return acc.step(
        _vec(step.obs),
        _actions(step),
        np.asarray(step.rewards, dtype=np.float32),
        _vec(step.next_obs),
        np.asarray(step.terminated or [False] * num_envs),
        np.asarray(step.truncated or [False] * num_envs),
    )


def _rows(out: Transitions | None) -> list[Row]:
    if out is None:
        return []
    np.testing.assert_array_equal(out.obs[:, 1], -out.obs[:, 0])
    np.testing.assert_array_equal(out.next_obs[:, 1], -out.next_obs[:, 0])
    assert out.rewards.dtype == np.float32 and out.discounts.dtype == np.float32
    assert out.actions.dtype == np.int64 and len(out) == out.obs.shape[0]
    return [
        (float(o), int(a), float(r), float(n), float(d))
        for o, a, r, n, d in zip(
            out.obs[:, 0], out.actions, out.rewards, out.next_obs[:, 0], out.discounts, strict=True
        )
    ]


def _check(acc: NStepAccumulator, steps: list[Step]) -> None:
    for t, step in enumerate(steps):
        got = _rows(_run_step(acc, step))
        want = [(o, int(o) % 7, r, n, d) for o, _, r, n, d in step.expect]
        assert len(got) == len(want), f"step {t}: got {got}, want {want}"
        for g, w in zip(got, want, strict=True):
            assert g[0] == w[0] and g[1] == w[1] and g[3] == w[3], f"step {t}: {g} != {w}"
            assert g[2] == pytest.approx(w[2], rel=1e-6) and g[4] == pytest.approx(w[4], rel=1e-6)


# Expected rows are (obs label, _, return, next_obs label, discount); the action column is checked
# against the label-derived action (label % 7). Returns are worked out by hand in the comments.
# fmt: off
CASES: dict[str, tuple[int, int, float, list[Step]]] = {
    # (a) n = 3, no episode end: G_t = r_t + r_{t+1}/2 + r_{t+2}/4, discount 1/8
    "no_end": (1, 3, 0.5, [
        Step([0], [1], [1]),
        Step([1], [2], [2]),
        Step([2], [3], [3], expect=[(0, 0, 1 + 1 + 0.75, 3, 0.125)]),
        Step([3], [4], [4], expect=[(1, 0, 2 + 1.5 + 1, 4, 0.125)]),
        Step([4], [5], [5], expect=[(2, 0, 3 + 2 + 1.25, 5, 0.125)]),
    ]),
    # (b) termination at the 2nd step: both pending entries end with discount 0 and the window
    # restarts with the next episode
    "terminal_inside_window": (1, 3, 0.5, [
        Step([0], [1], [1]),
        Step([1], [2], [99], terminated=[True], expect=[(0, 0, 1 + 1, 99, 0.0), (1, 0, 2, 99, 0.0)]),
        Step([10], [3], [11]),
        Step([11], [4], [12]),
        Step([12], [5], [13], expect=[(10, 0, 3 + 2 + 1.25, 13, 0.125)]),
    ]),
    # (c) truncation at the 4th step: partial returns bootstrap from the final obs 99 with
    # gamma^m for their own m = 3, 2, 1
    "truncation_inside_window": (1, 3, 0.5, [
        Step([0], [1], [1]),
        Step([1], [2], [2]),
        Step([2], [3], [3], expect=[(0, 0, 2.75, 3, 0.125)]),
        Step([3], [4], [99], truncated=[True], expect=[
            (1, 0, 2 + 1.5 + 1, 99, 0.125), (2, 0, 3 + 2, 99, 0.25), (3, 0, 4, 99, 0.5)]),
        Step([20], [1], [21]),
        Step([21], [2], [98], truncated=[True], expect=[(20, 0, 1 + 1, 98, 0.25), (21, 0, 2, 98, 0.5)]),
    ]),
    # terminated and truncated together: termination wins, no bootstrap
    "terminated_and_truncated": (1, 2, 0.5, [
        Step([0], [1], [1]),
        Step([1], [2], [99], terminated=[True], truncated=[True],
             expect=[(0, 0, 1 + 1, 99, 0.0), (1, 0, 2, 99, 0.0)]),
    ]),
    # (d) two envs, n = 2, gamma = 0.9: env 0 terminates at t=1, env 1 is truncated at t=2
    "two_envs_interleaved": (2, 2, 0.9, [
        Step([0, 100], [1, 10], [1, 101]),
        Step([1, 101], [2, 20], [99, 102], terminated=[True, False], expect=[
            (0, 0, 1 + 0.9 * 2, 99, 0.0), (1, 0, 2, 99, 0.0),
            (100, 0, 10 + 0.9 * 20, 102, 0.81)]),
        Step([50, 102], [3, 30], [51, 199], truncated=[False, True], expect=[
            (101, 0, 20 + 0.9 * 30, 199, 0.81), (102, 0, 30, 199, 0.9)]),
        Step([51, 150], [4, 40], [52, 151], expect=[(50, 0, 3 + 0.9 * 4, 52, 0.81)]),
        Step([52, 151], [5, 50], [53, 152], expect=[
            (51, 0, 4 + 0.9 * 5, 53, 0.81), (150, 0, 40 + 0.9 * 50, 152, 0.81)]),
    ]),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_hand_computed_cases(name: str) -> None:
    num_envs, n, gamma, steps = CASES[name]
    _check(NStepAccumulator(num_envs=num_envs, n=n, gamma=gamma), steps)


def test_n_equals_one_gives_plain_transitions() -> None:
    num_envs, gamma = 3, 0.99
    acc = NStepAccumulator(num_envs=num_envs, n=1, gamma=gamma)
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs = rng.integers(0, 255, size=(num_envs, 4, 4), dtype=np.uint8)
        next_obs = rng.integers(0, 255, size=(num_envs, 4, 4), dtype=np.uint8)
        actions = rng.integers(0, 6, size=num_envs)
        rewards = rng.normal(size=num_envs).astype(np.float32)
        terminated = rng.random(num_envs) < 0.2
        truncated = rng.random(num_envs) < 0.2
        out = acc.step(obs, actions, rewards, next_obs, terminated, truncated)
        assert out is not None and len(out) == num_envs
        assert out.obs.dtype == np.uint8
        np.testing.assert_array_equal(out.obs, obs)
        np.testing.assert_array_equal(out.next_obs, next_obs)
        np.testing.assert_array_equal(out.actions, actions)
        np.testing.assert_array_equal(out.rewards, rewards)
        np.testing.assert_allclose(out.discounts, np.where(terminated, 0.0, gamma), rtol=1e-7)
        np.testing.assert_array_equal(acc.pending, np.zeros(num_envs))


def test_state_dict_round_trip_mid_window() -> None:
    num_envs, n, gamma, steps = CASES["two_envs_interleaved"]
    acc = NStepAccumulator(num_envs=num_envs, n=n, gamma=gamma)
    _check(acc, steps[:3])
    state = copy.deepcopy(acc.state_dict())
    np.testing.assert_array_equal(acc.pending, [1, 0])
    assert _run_step(acc, Step([99, 99], [0, 0], [98, 98])) is not None  # diverge after saving

    restored = NStepAccumulator(num_envs=num_envs, n=n, gamma=gamma)
    restored.load_state_dict(state)
    _check(restored, steps[3:])
    with pytest.raises(ValueError):
        NStepAccumulator(num_envs=num_envs, n=n + 1, gamma=gamma).load_state_dict(state)


def test_reset_drops_pending_entries() -> None:
    acc = NStepAccumulator(num_envs=2, n=3, gamma=0.5)
    _run_step(acc, Step([0, 100], [1, 10], [1, 101]))
    _run_step(acc, Step([1, 101], [2, 20], [2, 102]))
    acc.reset(np.array([1]))
    np.testing.assert_array_equal(acc.pending, [2, 0])
    acc.reset()
    np.testing.assert_array_equal(acc.pending, [0, 0])
    assert _run_step(acc, Step([5, 105], [1, 1], [6, 106])) is None


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        NStepAccumulator(num_envs=1, n=0, gamma=0.9)
    with pytest.raises(ValueError):
        NStepAccumulator(num_envs=1, n=3, gamma=1.5)
    acc = NStepAccumulator(num_envs=2, n=3, gamma=0.9)
    with pytest.raises(ValueError, match="rewards"):
        acc.step(_vec([0, 1]), np.array([0, 1]), np.zeros(3), _vec([1, 2]), np.zeros(2, bool), np.zeros(2, bool))
