from __future__ import annotations

import math

import pytest
import torch

from rlkit.exploration import EpsilonGreedy, ExponentialSchedule, LinearSchedule, NoisyExploration
from rlkit.units import frames_to_steps, updates_to_steps
from rlkit.utils import runtime


def test_linear_schedule_values():
    s = LinearSchedule(start=1.0, end=0.1, duration=100)
    assert s(0) == 1.0 and s(50) == pytest.approx(0.55) and s(100) == 0.1 and s(10**9) == 0.1
    assert LinearSchedule(start=1.0, end=0.1, duration=0)(0) == 0.1


def test_exponential_schedule_reaches_end_geometrically():
    s = ExponentialSchedule(start=1.0, end=0.01, duration=100)
    assert s(0) == pytest.approx(1.0)
    assert s(50) == pytest.approx(0.1)  # geometric midpoint
    assert s(100) == 0.01 and s(1000) == 0.01
    with pytest.raises(ValueError):
        ExponentialSchedule(start=0.0, end=0.1, duration=10)


def test_epsilon_greedy_and_noisy_exploration():
    e = EpsilonGreedy(start=1.0, end=0.0, decay_steps=10, schedule="linear")
    assert [e.epsilon(t) for t in (0, 5, 10)] == [1.0, 0.5, 0.0]
    assert NoisyExploration().epsilon(0) == 0.0
    with pytest.raises(ValueError, match="probability"):
        EpsilonGreedy(start=1.5)
    with pytest.raises(ValueError, match="schedule"):
        EpsilonGreedy(schedule="cosine")  # type: ignore[arg-type]


def test_unit_conversions():
    assert frames_to_steps(80_000, 4) == 20_000  # Rainbow's learning start
    assert frames_to_steps(32_000, 4) == 8_000  # Rainbow's target period
    assert updates_to_steps(2_000, 1) == 2_000  # DER's target period
    assert updates_to_steps(10_000, 4) == 40_000  # Nature DQN's target period
    with pytest.raises(ValueError):
        frames_to_steps(10, 0)


def test_device_resolution():
    assert runtime.resolve_device("cpu").type == "cpu"
    assert runtime.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            runtime.resolve_device("cuda")


def test_rng_state_round_trip():
    runtime.seed_everything(3)
    state = runtime.rng_state()
    a = torch.rand(3)
    runtime.set_rng_state(state)
    assert torch.equal(a, torch.rand(3))
    assert not math.isnan(float(a.sum()))
