"""The smallest positive priority of a prioritized replay, kept up to date in ``O(log N)`` per slot.

Prioritized replay normalises its importance weights by their maximum over the whole buffer
(Schaul et al. 2016, Algorithm 1: ``w_j = (N P(j))^-beta / max_i w_i``); that maximum belongs to
the slot of smallest probability, so the sampler needs ``min_i p_i`` over the slots that can be
drawn. Same heap layout as :class:`rlkit.replay.sum_tree.SumTree`; an empty slot (priority 0) is
stored as ``+inf`` so that it never wins.
"""

from __future__ import annotations

import numpy as np


class MinTree:
    """Minimum over ``capacity`` priorities, ignoring zeros (empty or unsampleable slots)."""

    def __init__(self, capacity: int) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"MinTree capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._first_leaf = 1 << max(0, (capacity - 1).bit_length())
        self._tree = np.full(2 * self._first_leaf, np.inf, dtype=np.float64)  # [2P], slot 0 unused

    @property
    def min(self) -> float:
        """Smallest positive priority (``inf`` when every slot is empty)."""
        return float(self._tree[1])

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set slots ``indices`` to ``priorities`` (0 empties a slot); the last write of a repeated index wins."""
        indices = np.asarray(indices, dtype=np.int64).ravel()  # [K]
        values = np.asarray(priorities, dtype=np.float64).ravel()  # [K]
        if indices.size != values.size:
            raise ValueError(f"update got {indices.size} indices but {values.size} priorities")
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self._capacity:
            raise IndexError(f"indices must lie in [0, {self._capacity})")
        order = np.argsort(indices, kind="stable")
        unique, first_of_reversed = np.unique(indices[order][::-1], return_index=True)
        last = order[::-1][first_of_reversed]  # position of each index's last write
        tree = self._tree
        nodes = unique + self._first_leaf  # [U]
        tree[nodes] = np.where(values[last] > 0.0, values[last], np.inf)
        while nodes[0] > 1:
            nodes = np.unique(nodes >> 1)
            tree[nodes] = np.minimum(tree[2 * nodes], tree[2 * nodes + 1])

    def rebuild(self, priorities: np.ndarray) -> None:
        """Set every slot at once (e.g. from a restored sum tree's leaves)."""
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.shape != (self._capacity,):
            raise ValueError(f"expected priorities of shape ({self._capacity},), got {priorities.shape}")
        tree, first = self._tree, self._first_leaf
        tree[:] = np.inf
        tree[first : first + self._capacity] = np.where(priorities > 0.0, priorities, np.inf)
        width = first // 2
        while width >= 1:
            tree[width : 2 * width] = np.minimum(tree[2 * width : 4 * width : 2], tree[2 * width + 1 : 4 * width : 2])
            width //= 2
