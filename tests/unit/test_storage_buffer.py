"""CircularStorage wrap-around and ReplayBuffer batches, priorities and checkpoints."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlkit import registry
from rlkit.replay import CircularStorage, PrioritizedSampler, ReplayBuffer, UniformSampler
from rlkit.types import Batch

OBS_SHAPE = (3, 2)


def _rows(values: np.ndarray) -> dict[str, np.ndarray]:
    """Rows labelled by ``values``: obs filled with v, next_obs with v + 1, action v, ..."""
    values = np.asarray(values)
    return {
        "obs": np.broadcast_to(values[:, None, None], (len(values), *OBS_SHAPE)).astype(np.uint8),
        "actions": values.astype(np.int64),
        "rewards": values * 0.5,
        "next_obs": np.broadcast_to(values[:, None, None] + 1, (len(values), *OBS_SHAPE)).astype(np.uint8),
        "discounts": np.where(values % 2 == 0, 0.99, 0.0),
    }


def _storage(capacity: int) -> CircularStorage:
    return CircularStorage(capacity=capacity, obs_shape=OBS_SHAPE, obs_dtype="uint8")


def test_storage_wrap_around_keeps_newest_rows() -> None:
    storage = _storage(5)
    np.testing.assert_array_equal(storage.add(**_rows(np.arange(3))), [0, 1, 2])
    np.testing.assert_array_equal(storage.add(**_rows(np.arange(3, 7))), [3, 4, 0, 1])
    assert storage.size == len(storage) == 5 and storage.num_added == 7
    rows = storage.get(np.arange(5))
    np.testing.assert_array_equal(rows["actions"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rows["obs"][:, 0, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rows["next_obs"][:, 2, 1], [6, 7, 3, 4, 5])
    np.testing.assert_allclose(rows["rewards"], [2.5, 3.0, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(rows["discounts"], [0.0, 0.99, 0.99, 0.0, 0.99], rtol=1e-6)
    assert rows["obs"].dtype == np.uint8 and rows["rewards"].dtype == np.float32

    # a batch larger than the capacity keeps only its last `capacity` rows
    slots = storage.add(**_rows(np.arange(10, 22)))  # cursor at 2; 12 rows: last 5 land at 4, 0..3
    np.testing.assert_array_equal(slots, [4, 0, 1, 2, 3])
    np.testing.assert_array_equal(storage.get(np.arange(5))["actions"], [18, 19, 20, 21, 17])
    assert storage.num_added == 19


def test_storage_rejects_bad_rows_and_indices() -> None:
    storage = _storage(4)
    bad = _rows(np.arange(2))
    bad["obs"] = bad["obs"].astype(np.float32)  # float frames must not be cast silently to uint8
    with pytest.raises(TypeError, match="obs"):
        storage.add(**bad)
    bad = _rows(np.arange(2))
    bad["rewards"] = np.zeros(3)
    with pytest.raises(ValueError, match="rewards"):
        storage.add(**bad)
    storage.add(**_rows(np.arange(2)))
    with pytest.raises(IndexError):
        storage.get(np.array([2]))


def test_storage_state_dict_round_trip() -> None:
    storage = _storage(4)
    storage.add(**_rows(np.arange(6)))
    restored = _storage(4)
    restored.load_state_dict(copy.deepcopy(storage.state_dict()))
    assert restored.size == 4 and restored.num_added == 6
    for key, value in storage.get(np.arange(4)).items():
        np.testing.assert_array_equal(restored.get(np.arange(4))[key], value)
    np.testing.assert_array_equal(restored.add(**_rows(np.array([9]))), [2])  # cursor restored


def _buffer(capacity: int = 16, sampler: str = "prioritized") -> ReplayBuffer:
    storage = registry.build(
        "replay/storage", {"name": "circular"}, capacity=capacity, obs_shape=OBS_SHAPE, obs_dtype="uint8"
    )
    return ReplayBuffer(
        storage=storage, sampler=registry.build("replay/sampler", {"name": sampler, "seed": 5}, capacity=capacity)
    )


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
        batch.discounts.cpu(), torch.where(labels % 2 == 0, torch.tensor(0.99), torch.tensor(0.0))
    )


@pytest.mark.parametrize("sampler", ["uniform", "prioritized"])
def test_buffer_sample_returns_batch_matching_added_rows(sampler: str) -> None:
    buffer = _buffer(sampler=sampler)
    buffer.add(**_rows(np.arange(10)))
    assert len(buffer) == 10
    batch = buffer.sample(8, torch.device("cpu"))
    _check_batch(batch, 8, torch.device("cpu"))
    assert batch.indices.max() < 10
    torch.testing.assert_close(batch.weights, torch.ones(8))  # uniform, or PER with equal priorities


@pytest.mark.gpu
def test_buffer_sample_on_cuda() -> None:
    buffer = _buffer()
    buffer.add(**_rows(np.arange(10)))
    _check_batch(buffer.sample(8, torch.device("cuda")), 8, torch.device("cuda"))


def test_priority_updates_reach_the_prioritized_sampler() -> None:
    buffer = _buffer(capacity=8)
    buffer.add(**_rows(np.arange(8)))
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


def test_buffer_rejects_mismatched_capacities() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(storage=_storage(8), sampler=UniformSampler(capacity=16))


def test_buffer_state_dict_round_trip_reproduces_samples() -> None:
    buffer = _buffer(capacity=16)
    buffer.add(**_rows(np.arange(20)))
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
