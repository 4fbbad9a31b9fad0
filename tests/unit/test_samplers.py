"""Uniform and prioritized samplers: IS weights, max-priority insertion, beta schedule, state."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from rlkit import registry
from rlkit.replay.samplers import PrioritizedSampler, UniformSampler


def _per(capacity: int, **kwargs: float | str) -> PrioritizedSampler:
    return PrioritizedSampler(capacity=capacity, **kwargs)


def test_importance_weights_hand_computed() -> None:
    sampler = _per(4, alpha=0.5, beta_start=0.4, eps=0.0, weight_norm="batch_max")
    sampler.on_add(np.arange(4))
    sampler.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]))
    # stored p = |delta|^0.5 = [1, 2, 3, 4], total 10, P = [0.1, 0.2, 0.3, 0.4]
    np.testing.assert_array_equal(sampler.tree.get(np.arange(4)), [1.0, 2.0, 3.0, 4.0])
    # raw w = (N P)^-beta = [0.4, 0.8, 1.2, 1.6]^-0.4
    raw = np.array([1.4426999059, 1.0933620739, 0.9296671848, 0.8286135043])
    for _ in range(20):
        indices, weights = sampler.sample(4, 4)
        assert weights.dtype == np.float32 and indices.dtype == np.int64
        assert indices[3] == 3  # the last segment [7.5, 10) lies inside leaf 3's [6, 10)
        np.testing.assert_allclose(weights, raw[indices] / raw[indices].max(), rtol=1e-6)


def test_importance_weights_at_beta_one_are_inverse_probabilities() -> None:
    sampler = _per(4, alpha=1.0, beta_start=1.0, eps=0.0, weight_norm="batch_max")
    sampler.on_add(np.arange(4))
    sampler.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    indices, weights = sampler.sample(4, 4)
    # w_i = 1 / (4 P_i) / max_j w_j = min_j p_j / p_i over the batch
    p = np.array([1.0, 2.0, 3.0, 4.0])[indices]
    np.testing.assert_allclose(weights, p.min() / p, rtol=1e-6)


def test_new_slots_get_max_priority_seen_so_far() -> None:
    sampler = _per(8, alpha=0.5, eps=0.0)
    sampler.on_add(np.array([0, 1]))
    np.testing.assert_array_equal(sampler.tree.get(np.array([0, 1])), [1.0, 1.0])  # initial max 1
    sampler.update_priorities(np.array([0, 1]), np.array([9.0, 0.25]))  # stored 3.0, 0.5
    assert sampler.max_priority == 3.0
    sampler.update_priorities(np.array([0]), np.array([0.0]))  # lowering never lowers the max
    assert sampler.max_priority == 3.0
    sampler.on_add(np.array([2, 3]))
    np.testing.assert_array_equal(sampler.tree.get(np.arange(4)), [0.0, 0.5, 3.0, 3.0])


def test_eps_and_alpha_are_applied_to_raw_priorities() -> None:
    sampler = _per(4, alpha=0.6, eps=0.01)
    sampler.on_add(np.arange(4))
    sampler.update_priorities(np.array([1, 2]), np.array([0.0, 2.0]))
    np.testing.assert_allclose(sampler.tree.get(np.array([1, 2])), [0.01**0.6, 2.01**0.6], rtol=1e-12)
    before, max_before = sampler.tree.get(np.arange(4)), sampler.max_priority
    for bad in (np.nan, -0.5, np.inf, -np.inf):
        with pytest.raises(ValueError, match="finite and non-negative"):
            sampler.update_priorities(np.array([0, 1]), np.array([1.0, bad]))
    np.testing.assert_array_equal(sampler.tree.get(np.arange(4)), before)  # slot 0's valid priority not written either
    assert sampler.max_priority == max_before


def test_beta_schedule_is_linear_and_clipped() -> None:
    sampler = _per(4, beta_start=0.4, beta_end=1.0)
    expected = {-1.0: 0.4, 0.0: 0.4, 0.25: 0.55, 0.5: 0.7, 1.0: 1.0, 3.0: 1.0}
    for fraction, beta in expected.items():
        sampler.set_progress(fraction)
        assert sampler.beta == pytest.approx(beta, abs=1e-12)


def test_wrap_around_resets_rewritten_slots_to_max_priority() -> None:
    capacity = 4
    sampler = _per(capacity, alpha=0.5, eps=0.0)
    sampler.on_add(np.arange(capacity))  # first pass over the ring
    sampler.update_priorities(np.arange(capacity), np.array([4.0, 0.01, 0.04, 0.09]))
    # stored [2, 0.1, 0.2, 0.3]; max 2
    sampler.update_priorities(np.array([0]), np.array([0.16]))  # slot 0 now 0.4
    sampler.on_add(np.array([0, 1]))  # items capacity+0, capacity+1 overwrite slots 0 and 1
    np.testing.assert_allclose(sampler.tree.get(np.arange(capacity)), [2.0, 2.0, 0.2, 0.3])
    assert sampler.tree.total == pytest.approx(4.5)


def test_removed_slots_get_zero_priority_and_are_never_drawn() -> None:
    sampler = _per(8, alpha=0.5, eps=0.0)
    sampler.on_add(np.arange(8))
    sampler.update_priorities(np.array([3]), np.array([4.0]))  # stored 2.0, the new max
    sampler.on_remove(np.array([1, 2, 5]))
    np.testing.assert_array_equal(sampler.tree.get(np.arange(8)), [1, 0, 0, 2, 1, 0, 1, 1])
    assert sampler.tree.total == 6.0
    indices, _ = sampler.sample(1000, 8)
    assert set(indices.tolist()) == {0, 3, 4, 6, 7}
    sampler.on_add(np.array([2]))  # a new transition in slot 2 enters at the max priority
    np.testing.assert_array_equal(sampler.tree.get(np.array([2])), [2.0])
    uniform = UniformSampler(capacity=8)
    uniform.on_remove(np.array([0]))  # the buffer redraws unsampleable slots for uniform replay
    assert uniform.sample(4, 8)[0].shape == (4,)


def test_stratified_sampling_takes_one_index_per_segment() -> None:
    sampler = _per(8, alpha=0.5)
    sampler.on_add(np.arange(8))  # equal priorities
    for _ in range(10):
        indices, weights = sampler.sample(8, 8)
        np.testing.assert_array_equal(indices, np.arange(8))
        np.testing.assert_array_equal(weights, np.ones(8, dtype=np.float32))
        indices, _ = sampler.sample(4, 8)  # segment i covers leaves 2i and 2i + 1
        np.testing.assert_array_equal(indices // 2, np.arange(4))


def test_prioritized_sample_stays_in_filled_slots() -> None:
    sampler = _per(100)
    sampler.on_add(np.arange(30))
    indices, _ = sampler.sample(512, 30)
    assert indices.min() >= 0 and indices.max() < 30
    with pytest.raises(RuntimeError, match="disagree"):
        sampler.sample(512, 10)


def test_uniform_sampler_range_weights_and_coverage() -> None:
    sampler = UniformSampler(capacity=10, seed=3)
    sampler.on_add(np.arange(7))
    indices, weights = sampler.sample(7000, 7)
    assert indices.dtype == np.int64 and weights.dtype == np.float32
    assert indices.min() == 0 and indices.max() == 6
    np.testing.assert_array_equal(weights, np.ones(7000, dtype=np.float32))
    counts = np.bincount(indices, minlength=7)
    assert np.all(np.abs(counts - 1000) < 150)  # ~4.7 sigma at p = 1/7, n = 7000


@pytest.mark.parametrize("make", [lambda s: UniformSampler(capacity=50, seed=s), lambda s: _per(50, seed=s)])
def test_sampling_is_reproducible_after_state_dict_round_trip(make) -> None:  # type: ignore[no-untyped-def]
    sampler = make(0)
    sampler.on_add(np.arange(40))
    sampler.update_priorities(np.arange(40), np.linspace(0.0, 2.0, 40))
    sampler.set_progress(0.3)
    sampler.sample(16, 40)
    state = copy.deepcopy(sampler.state_dict())
    expected = [sampler.sample(16, 40) for _ in range(5)]

    restored = make(99)  # another seed: the restored generator state must win
    restored.load_state_dict(state)
    for want, got in zip(expected, (restored.sample(16, 40) for _ in range(5)), strict=True):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_invalid_arguments_raise() -> None:
    for sampler in (UniformSampler(capacity=4), _per(4)):
        sampler.on_add(np.arange(2))
        with pytest.raises(ValueError, match="empty replay buffer"):
            sampler.sample(2, 0)
        with pytest.raises(ValueError, match="batch_size"):
            sampler.sample(0, 2)
    with pytest.raises(ValueError, match="alpha"):
        _per(4, alpha=-0.1)
    with pytest.raises(ValueError, match="beta_start"):
        _per(4, beta_start=1.5)
    with pytest.raises(ValueError, match="beta_end"):
        _per(4, beta_end=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        _per(4, alpha=0.6).load_state_dict(_per(4, alpha=0.5).state_dict())


def test_samplers_build_from_registry() -> None:
    sampler = registry.build("replay/sampler", {"name": "prioritized", "alpha": 0.6, "seed": 1}, capacity=8)
    assert isinstance(sampler, PrioritizedSampler) and sampler.alpha == 0.6 and sampler.capacity == 8
    sampler = registry.build("replay/sampler", {"name": "uniform"}, capacity=8)
    assert isinstance(sampler, UniformSampler)
