"""SumTree: exact sums under vectorised updates, search against brute force, sampling statistics."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.replay import sum_tree
from rlkit.replay.sum_tree import SumTree

CAPACITIES = [1, 3, 7, 1000, 1024]


def _check_internal_nodes(tree: SumTree) -> None:
    nodes = tree._tree  # [2P] heap-ordered
    first = len(nodes) // 2
    # every internal node is exactly (bit for bit) the sum of its children
    np.testing.assert_array_equal(nodes[1:first], nodes[2 : 2 * first : 2] + nodes[3 : 2 * first : 2])
    assert np.all(nodes[first + tree.capacity :] == 0.0)  # padding leaves stay empty


def _brute_force_find(priorities: np.ndarray, values: np.ndarray) -> np.ndarray:
    """First leaf whose cumulative sum exceeds v, clipped to the last positive leaf."""
    cumsum = np.cumsum(priorities)
    found = np.searchsorted(cumsum, values, side="right")
    last_positive = np.flatnonzero(priorities > 0)[-1]
    return np.minimum(found, last_positive)


@pytest.mark.parametrize("whole_level_width", [1, 1024], ids=["gather-levels", "whole-levels"])
@pytest.mark.parametrize("capacity", CAPACITIES + [5000])
def test_random_updates_with_duplicates_match_brute_force(
    capacity: int, whole_level_width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both propagation paths: per-node gathers on wide levels, whole-level slices near the root
    monkeypatch.setattr(sum_tree, "_WHOLE_LEVEL_WIDTH", whole_level_width)
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity)
    mirror = np.zeros(capacity)
    for round_ in range(40):
        # alternate few-index updates (scalar path walks) with batched ones
        k = int(rng.integers(1, 9 if round_ % 2 else min(2 * capacity + 2, 300)))
        indices = rng.integers(0, capacity, size=k)  # duplicates are likely
        priorities = rng.random(k) * rng.choice([0.0, 1e-3, 1.0, 1e3], size=k)
        tree.update(indices, priorities)
        for i, p in zip(indices, priorities, strict=True):  # last write wins
            mirror[i] = p
        np.testing.assert_array_equal(tree.get(np.arange(capacity)), mirror)
        assert tree.total == pytest.approx(mirror.sum(), rel=1e-12, abs=1e-300)
        _check_internal_nodes(tree)


def test_duplicate_indices_last_write_wins() -> None:
    tree = SumTree(5)
    tree.update(np.array([2, 4, 2, 2, 4]), np.array([1.0, 7.0, 5.0, 3.0, 0.5]))
    np.testing.assert_array_equal(tree.get(np.arange(5)), [0.0, 0.0, 3.0, 0.0, 0.5])
    assert tree.total == 3.5
    tree.update(np.array([4]), np.array([2.0]))  # single-index path
    assert tree.total == 5.0
    tree.update(np.array([1, 1]), np.array([9.0, 4.0]))  # few-index path
    np.testing.assert_array_equal(tree.get(np.arange(5)), [0.0, 4.0, 3.0, 0.0, 2.0])
    _check_internal_nodes(tree)


@pytest.mark.parametrize("start_width", [1, 4, 1024], ids=["from-root", "start-level-4", "start-level-1024"])
@pytest.mark.parametrize("capacity", [1, 3, 1000, 5000])
def test_find_matches_cumulative_sum_search(capacity: int, start_width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the search begins with a cumulative sum over one level (or the leaves, if narrower), then descends
    monkeypatch.setattr(sum_tree, "_SEARCH_START_WIDTH", start_width)
    rng = np.random.default_rng(7)
    priorities = rng.random(capacity)
    priorities[rng.random(capacity) < 0.3] = 0.0  # empty leaves must never be returned
    priorities[capacity // 2] = 0.5
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    total = tree.total
    values = rng.random(2000) * total
    np.testing.assert_array_equal(tree.find(values), _brute_force_find(priorities, values))

    nonzero = np.flatnonzero(priorities)
    edges = np.array([0.0, total, np.nextafter(total, 0.0), total * (1 - 1e-15), 2 * total])
    found = tree.find(edges)
    assert found[0] == nonzero[0]
    np.testing.assert_array_equal(found[1:], nonzero[-1])


def test_find_never_returns_padding_or_empty_leaf_at_upper_edge() -> None:
    tree = SumTree(3)  # 4 leaves, the last is padding
    tree.update(np.arange(3), np.ones(3))
    # v == total walks right at every level into the empty padding leaf without the guard
    np.testing.assert_array_equal(tree.find(np.array([3.0, 2.0, 1.9999, 0.0])), [2, 2, 1, 0])
    tree = SumTree(8)
    tree.update(np.arange(8), np.array([1.0, 0, 0, 1.0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(tree.find(np.array([0.0, 0.5, 1.0, 1.5, 2.0])), [0, 0, 3, 3, 3])


def test_find_on_empty_tree_raises() -> None:
    with pytest.raises(ValueError, match="total priority is 0"):
        SumTree(4).find(np.array([0.0]))


def test_invalid_updates_raise() -> None:
    tree = SumTree(4)
    with pytest.raises(IndexError):
        tree.update(np.array([0, 4]), np.array([1.0, 1.0]))
    with pytest.raises(IndexError):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0, 1]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError):  # a batched update with one bad value writes nothing
        tree.update(np.arange(4).repeat(5), np.r_[np.ones(19), np.inf])
    with pytest.raises(TypeError):
        tree.update(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert tree.total == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1e-300])
def test_batched_update_with_one_bad_priority_raises_and_writes_nothing(bad: float) -> None:
    tree = SumTree(3000)  # deep enough for the vectorised path's per-level walk and whole-level sums
    tree.update(np.arange(3000), np.ones(3000))
    before = tree._tree.copy()
    priorities = np.full(40, 2.0)
    priorities[17] = bad
    with pytest.raises(ValueError, match="finite and non-negative"):
        tree.update(np.arange(0, 3000, 75), priorities)
    np.testing.assert_array_equal(tree._tree, before)


def test_sampled_frequencies_match_priorities_chi_square() -> None:
    capacity = 10  # not a power of two
    priorities = np.array([1.0, 2.0, 0.0, 4.0, 8.0, 0.5, 3.0, 0.0, 6.0, 2.5])
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    rng = np.random.default_rng(1234)
    draws = 200_000
    counts = np.bincount(tree.find(rng.random(draws) * tree.total), minlength=capacity)
    assert counts[priorities == 0].sum() == 0
    positive = priorities > 0
    expected = draws * priorities[positive] / priorities.sum()
    chi2 = float(((counts[positive] - expected) ** 2 / expected).sum())
    # 8 positive cells -> 7 degrees of freedom; reject at the 0.1% level
    try:
        from scipy.stats import chi2 as chi2_dist

        critical = float(chi2_dist.ppf(0.999, df=7))
    except ImportError:
        critical = 24.322  # chi2_{0.999}(7)
    assert critical == pytest.approx(24.322, abs=1e-3)
    assert chi2 < critical


def test_large_tree_batch_search_is_vectorised_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    capacity = 2**20
    rng = np.random.default_rng(0)
    priorities = rng.random(capacity)
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    _check_internal_nodes(tree)
    assert tree.total == pytest.approx(priorities.sum(), rel=1e-12)

    values = rng.random(512) * tree.total
    np.testing.assert_array_equal(tree.find(values), _brute_force_find(priorities, values))

    # The search reads the start level once, then descends the levels below it for the whole batch:
    # the number of tree reads does not grow with the batch size.
    reads = {"n": 0}

    class CountingArray(np.ndarray):
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            reads["n"] += 1
            return np.asarray(self).__getitem__(key)

    monkeypatch.setattr(tree, "_tree", tree._tree.view(CountingArray))
    reads_per_batch = {}
    for batch in (32, 512):
        reads["n"] = 0
        tree.find(rng.random(batch) * tree.total)
        reads_per_batch[batch] = reads["n"]
    assert tree.depth == 20
    levels_below_start = tree.depth - 10  # the search starts on the level of 1024 nodes
    assert levels_below_start + 2 <= reads_per_batch[32] == reads_per_batch[512] <= levels_below_start + 4


def test_state_dict_round_trip_rebuilds_identical_tree() -> None:
    rng = np.random.default_rng(3)
    tree = SumTree(1000)
    tree.update(rng.integers(0, 1000, 3000), rng.random(3000))
    restored = SumTree(1000)
    restored.load_state_dict(tree.state_dict())
    np.testing.assert_array_equal(restored._tree, tree._tree)
    with pytest.raises(ValueError):
        SumTree(999).load_state_dict(tree.state_dict())


@pytest.mark.parametrize("capacity", [1, 10, 5000])
def test_find_stratified_is_find_on_the_segments_and_returns_priorities(capacity: int) -> None:
    rng = np.random.default_rng(capacity)
    priorities = rng.random(capacity) ** 3
    priorities[rng.random(capacity) < 0.3] = 0.0
    priorities[0] = 0.25
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    for batch in (1, 32, 512):
        uniforms = rng.random(batch)
        uniforms[-1] = np.nextafter(1.0, 0.0)  # the top of the last segment: the last positive leaf
        indices, found_priorities = tree.find_stratified(uniforms)
        prefix = (np.arange(batch) + uniforms) * (tree.total / batch)
        np.testing.assert_array_equal(indices, _brute_force_find(priorities, prefix))
        assert indices.dtype == np.int64
        np.testing.assert_array_equal(found_priorities, priorities[indices])
        assert np.all(found_priorities > 0.0)
        assert np.all(np.diff(indices) >= 0)  # one draw per segment, in order


def test_find_stratified_rejects_uniforms_outside_unit_interval_and_empty_tree() -> None:
    tree = SumTree(4)
    with pytest.raises(ValueError, match="total priority is 0"):
        tree.find_stratified(np.array([0.5]))
    tree.update(np.arange(4), np.ones(4))
    for bad in ([1.0], [-0.1, 0.5], [np.nan]):
        with pytest.raises(ValueError, match=r"uniforms in \[0, 1\)"):
            tree.find_stratified(np.array(bad))
