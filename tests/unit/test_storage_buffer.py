"""CircularStorage fed raw steps (n-step inside), and ReplayBuffer batches, priorities, redraws, state."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlkit import registry
from rlkit.replay import CircularStorage, PrioritizedSampler, ReplayBuffer, UniformSampler
from rlkit.types import Batch
from tests.unit.test_n_step import CASES, _actions, _vec

OBS_SHAPE = (3, 2)
GAMMA = 0.99


def _step(values: np.ndarray) -> dict[str, np.ndarray]:
    """One step of len(values) envs labelled by ``values``: obs v, next_obs v + 1, action v,
    reward v / 2, terminated for odd v (so with n = 1 the stored discount is 0 for odd v, else gamma)."""
    values = np.asarray(values)
    return {
        "obs": np.broadcast_to(values[:, None, None], (len(values), *OBS_SHAPE)).astype(np.uint8),
        "actions": values.astype(np.int64),
        "rewards": values * 0.5,
        "next_obs": np.broadcast_to(values[:, None, None] + 1, (len(values), *OBS_SHAPE)).astype(np.uint8),
        "terminated": values % 2 == 1,
        "truncated": np.zeros(len(values), dtype=bool),
    }


def _storage(capacity: int, num_envs: int = 1, n_step: int = 1) -> CircularStorage:
    return CircularStorage(capacity=capacity, obs_shape=OBS_SHAPE, obs_dtype="uint8", num_envs=num_envs,
                           n_step=n_step, gamma=GAMMA)


def test_storage_wrap_around_keeps_newest_rows_and_reports_overwrites() -> None:
    storage = _storage(5)
    for v in range(5):
        update = storage.add_step(**_step(np.array([v])))
        np.testing.assert_array_equal(update.added, [v])
        assert update.removed.size == 0
    for v, slot in ((5, 0), (6, 1)):
        update = storage.add_step(**_step(np.array([v])))
        np.testing.assert_array_equal(update.added, [slot])
        np.testing.assert_array_equal(update.removed, [slot])  # the old row there is gone
    assert storage.size == len(storage) == 5 and storage.num_added == 7
    np.testing.assert_array_equal(storage.valid(np.array([-1, 0, 4, 5])), [False, True, True, False])
    rows = storage.get(np.arange(5))
    np.testing.assert_array_equal(rows["actions"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rows["obs"][:, 0, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rows["next_obs"][:, 2, 1], [6, 7, 3, 4, 5])
    np.testing.assert_allclose(rows["rewards"], [2.5, 3.0, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(rows["discounts"], [0.0, GAMMA, GAMMA, 0.0, GAMMA], rtol=1e-6)
    assert rows["obs"].dtype == np.uint8 and rows["rewards"].dtype == np.float32

    # one step of more envs than the capacity keeps only its last `capacity` rows
    wide = _storage(5, num_envs=12)
    update = wide.add_step(**_step(np.arange(10, 22)))  # rows 10..21: the last 5 land at 2, 3, 4, 0, 1
    np.testing.assert_array_equal(update.added, [2, 3, 4, 0, 1])
    np.testing.assert_array_equal(wide.get(np.arange(5))["actions"], [20, 21, 17, 18, 19])
    assert wide.num_added == 12


@pytest.mark.parametrize("name", list(CASES))
def test_n_step_cases_through_the_storage(name: str) -> None:
    """The hand-computed n-step table (tests/unit/test_n_step.py), fed to the storage as raw steps."""
    num_envs, n, gamma, steps = CASES[name]
    storage = CircularStorage(capacity=64, obs_shape=(2,), num_envs=num_envs, n_step=n, gamma=gamma)
    for t, step in enumerate(steps):
        update = storage.add_step(
            _vec(step.obs), _actions(step), np.asarray(step.rewards, dtype=np.float32), _vec(step.next_obs),
            np.asarray(step.terminated or [False] * num_envs), np.asarray(step.truncated or [False] * num_envs),
        )
        rows = storage.get(update.added)  # slots in emission order: env-major, oldest first
        got = list(zip(rows["obs"][:, 0], rows["actions"], rows["rewards"], rows["next_obs"][:, 0],
                       rows["discounts"], strict=True))
        assert len(got) == len(step.expect), f"step {t}: {got} vs {step.expect}"
        for (obs, action, ret, nxt, disc), (w_obs, _, w_ret, w_nxt, w_disc) in zip(got, step.expect, strict=True):
            assert (obs, action, nxt) == (w_obs, int(w_obs) % 7, w_nxt), f"step {t}"
            assert ret == pytest.approx(w_ret, rel=1e-6) and disc == pytest.approx(w_disc, rel=1e-6)
    assert len(storage) == sum(len(step.expect) for step in steps)


def test_storage_rejects_bad_steps_and_indices() -> None:
    storage = _storage(4)
    bad = _step(np.arange(1))
    bad["obs"] = bad["obs"].astype(np.float32)  # float frames must not be cast silently to uint8
    with pytest.raises(TypeError, match="obs"):
        storage.add_step(**bad)
    bad = _step(np.arange(1))
    bad["rewards"] = np.zeros(3)
    with pytest.raises(ValueError, match="rewards"):
        storage.add_step(**bad)
    assert storage.num_added == 0 and storage.accumulator.pending.sum() == 0  # rejected steps left no trace
    storage.add_step(**_step(np.arange(1)))
    storage.add_step(**_step(np.arange(1, 2)))
    with pytest.raises(IndexError):
        storage.get(np.array([2]))


def test_storage_state_dict_round_trip_keeps_n_step_windows() -> None:
    storage = _storage(6, n_step=3)
    labels = [0, 2, 4, 6, 8, 10, 12, 14]  # even labels: no episode ends
    for v in labels[:5]:
        storage.add_step(**_step(np.array([v])))
    assert storage.num_added == 3 and storage.accumulator.pending[0] == 2  # rows for 0, 2, 4; 6, 8 pending
    state = copy.deepcopy(storage.state_dict())
    restored = _storage(6, n_step=3)
    restored.load_state_dict(state)
    assert restored.size == 3 and restored.num_added == 3
    for v in labels[5:]:
        a, b = storage.add_step(**_step(np.array([v]))), restored.add_step(**_step(np.array([v])))
        np.testing.assert_array_equal(a.added, b.added)
    for key, value in storage.get(np.arange(6)).items():
        np.testing.assert_array_equal(restored.get(np.arange(6))[key], value)
    # the pending window survived: the row for obs 6 sums rewards 3 + 4 g + 5 g^2 and bootstraps from
    # the next_obs given with obs 10 (labelled 11)
    row = restored.get(np.array([3]))
    assert row["obs"][0, 0, 0] == 6 and row["next_obs"][0, 0, 0] == 11
    assert row["rewards"][0] == pytest.approx(3 + 4 * GAMMA + 5 * GAMMA**2, rel=1e-6)
    with pytest.raises(ValueError):
        _storage(6, n_step=2).load_state_dict(state)


def _buffer(capacity: int = 16, sampler: str = "prioritized") -> ReplayBuffer:
    storage = registry.build(
        "replay/storage", {"name": "circular"}, capacity=capacity, obs_shape=OBS_SHAPE, obs_dtype="uint8",
        num_envs=1, n_step=1, gamma=GAMMA,
    )
    return ReplayBuffer(
        storage=storage, sampler=registry.build("replay/sampler", {"name": sampler, "seed": 5}, capacity=capacity)
    )


def _fill(buffer: ReplayBuffer, values: range) -> None:
    for v in values:
        buffer.add_step(**_step(np.array([v])))


def _check_batch(batch: Batch, batch_size: int, device: torch.device) -> None:
    assert isinstance(batch, Batch)
    expected = {
        "obs": (torch.uint8, (batch_size, *OBS_SHAPE)),
        "actions": (torch.int64, (batch_size,)),
        "rewards": (torch.float32, (batch_size,)),
        "next_obs": (torch.uint8, (batch_size, *OBS_SHAPE)),
        "discounts": (torch.float32, (batch_size,)),
        "weights": (torch.float32, (batch_size,)),
    }
    for name, (dtype, shape) in expected.items():
        tensor = getattr(batch, name)
        assert tensor.dtype == dtype and tuple(tensor.shape) == shape and tensor.device.type == device.type, name
    assert isinstance(batch.indices, np.ndarray) and batch.indices.dtype == np.int64
    # values match what was added: row v has obs v, next_obs v + 1, action v, reward v / 2
    labels = torch.as_tensor(batch.indices)
    assert torch.equal(batch.actions.cpu(), labels)
    assert torch.equal(batch.obs.cpu()[:, 1, 1].long(), labels)
    assert torch.equal(batch.next_obs.cpu()[:, 0, 0].long(), labels + 1)
    torch.testing.assert_close(batch.rewards.cpu(), labels.float() * 0.5)
    torch.testing.assert_close(
        batch.discounts.cpu(), torch.where(labels % 2 == 0, torch.tensor(GAMMA), torch.tensor(0.0))
    )


@pytest.mark.parametrize("sampler", ["uniform", "prioritized"])
def test_buffer_sample_returns_batch_matching_added_rows(sampler: str) -> None:
    buffer = _buffer(sampler=sampler)
    _fill(buffer, range(10))
    assert len(buffer) == 10
    batch = buffer.sample(8, torch.device("cpu"))
    _check_batch(batch, 8, torch.device("cpu"))
    assert batch.indices.max() < 10
    torch.testing.assert_close(batch.weights, torch.ones(8))  # uniform, or PER with equal priorities


@pytest.mark.gpu
def test_buffer_sample_on_cuda() -> None:
    buffer = _buffer()
    _fill(buffer, range(10))
    _check_batch(buffer.sample(8, torch.device("cuda")), 8, torch.device("cuda"))


def test_priority_updates_reach_the_prioritized_sampler() -> None:
    buffer = _buffer(capacity=8)
    _fill(buffer, range(8))
    sampler = buffer.sampler
    assert isinstance(sampler, PrioritizedSampler)
    batch = buffer.sample(4, "cpu")
    td = torch.tensor([0.0, 1.0, 4.0, 9.0])  # loss priorities arrive as tensors
    buffer.update_priorities(batch.indices, td)
    stored = sampler.tree.get(np.arange(8))
    expected = np.ones(8)  # untouched slots keep the initial max priority 1.0
    for slot, p in zip(batch.indices, td.numpy(), strict=True):  # a repeated slot keeps its last priority
        expected[slot] = (float(p) + sampler.eps) ** sampler.alpha
    np.testing.assert_allclose(stored, expected, rtol=1e-12)
    assert sampler.max_priority == pytest.approx((9.0 + 1e-6) ** 0.5)

    buffer.set_progress(1.0)
    assert sampler.beta == 1.0
    # the weights of the next batch follow the updated priorities: w_i ∝ 1 / p_i at beta = 1
    batch = buffer.sample(8, "cpu")
    p = stored[batch.indices]
    np.testing.assert_allclose(batch.weights.numpy(), p.min() / p, rtol=1e-5)

    # an overwritten slot is removed, then re-added at the max priority
    buffer.update_priorities(np.array([0]), np.array([0.01]))
    _fill(buffer, range(8, 9))  # row 8 overwrites slot 0
    assert sampler.tree.get(np.array([0]))[0] == pytest.approx(sampler.max_priority)


class _HalfValidStorage(CircularStorage):
    """Circular storage whose odd slots are reported unsampleable (as a frame store's can be)."""

    def valid(self, indices: np.ndarray) -> np.ndarray:
        return super().valid(indices) & (np.asarray(indices) % 2 == 0)


def test_buffer_redraws_unsampleable_slots_and_skips_their_priorities() -> None:
    storage = _HalfValidStorage(capacity=16, obs_shape=OBS_SHAPE, obs_dtype="uint8", num_envs=1, n_step=1,
                                gamma=GAMMA)
    buffer = ReplayBuffer(storage=storage, sampler=UniformSampler(capacity=16, seed=0))
    _fill(buffer, range(10))
    for _ in range(20):
        assert np.all(buffer.sample(32, "cpu").indices % 2 == 0)
    _fill(buffer, range(10, 11))  # size 11: slots 0, 2, ..., 10 sampleable
    per = ReplayBuffer(storage=storage, sampler=PrioritizedSampler(capacity=16))
    per.sampler.on_add(np.arange(11))
    per.update_priorities(np.array([2, 3]), np.array([4.0, 4.0]))  # slot 3 is not sampleable: skipped
    np.testing.assert_allclose(per.sampler.tree.get(np.array([2, 3])), [(4.0 + 1e-6) ** 0.5, 1.0])

    class _NoneValid(CircularStorage):
        def valid(self, indices: np.ndarray) -> np.ndarray:
            return np.zeros(np.shape(indices), dtype=bool)

    broken = _NoneValid(capacity=4, obs_shape=OBS_SHAPE, obs_dtype="uint8", num_envs=1, n_step=1, gamma=GAMMA)
    buffer = ReplayBuffer(storage=broken, sampler=UniformSampler(capacity=4))
    _fill(buffer, range(2))
    with pytest.raises(RuntimeError, match="not sampleable"):
        buffer.sample(4, "cpu")


def test_buffer_rejects_mismatched_capacities() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(storage=_storage(8), sampler=UniformSampler(capacity=16))


def test_buffer_state_dict_round_trip_reproduces_samples() -> None:
    buffer = _buffer(capacity=16)
    _fill(buffer, range(20))
    buffer.update_priorities(np.arange(16), np.linspace(0.1, 3.0, 16))
    buffer.set_progress(0.5)
    state = copy.deepcopy(buffer.state_dict())
    expected = [buffer.sample(8, "cpu") for _ in range(3)]

    restored = _buffer(capacity=16)
    restored.load_state_dict(state)
    for want in expected:
        got = restored.sample(8, "cpu")
        np.testing.assert_array_equal(got.indices, want.indices)
        assert torch.equal(got.weights, want.weights) and torch.equal(got.obs, want.obs)
