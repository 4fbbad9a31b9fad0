"""Flat-array sum tree for proportional prioritized replay (Schaul et al. 2016, "Prioritized
Experience Replay", Sec. 3.3 and App. B.2.1).

The tree is one float64 array in heap order: node 1 is the root, node ``i`` has children ``2i`` and
``2i + 1``, and the ``capacity`` leaves sit at ``[P, P + capacity)`` where ``P`` is the next power
of two; the ``P - capacity`` padding leaves stay at priority 0 and are never returned. Updates and
searches for a whole batch run together, one level at a time, so a call costs ``O(depth)`` numpy
operations, not ``O(batch * depth)`` Python steps. A search starts below the root: one cumulative
sum over a level of at most 1024 nodes and one ``searchsorted`` replace its top ten levels.

Every internal node is *recomputed* from its two children on update (never incremented by a
delta), so no round-off accumulates over weeks of updates: each node is exactly ``left + right``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Levels at most this wide are recomputed whole with contiguous slices (cheaper than gathers).
_WHOLE_LEVEL_WIDTH = 1024
# Updates of at most this many indices walk each path with scalar code (~3 us per path at depth 20)
# instead of the vectorised update's ~25 us at any small batch; measured break-even is near 9 paths.
_SCALAR_UPDATE_MAX = 8
# A search starts on the level this wide (or the leaves, if fewer): a cumulative sum over it and one
# searchsorted replace the descent through the levels above (two numpy calls instead of ~60 at 1024).
_SEARCH_START_WIDTH = 1024


class SumTree:
    """Sum tree over ``capacity`` non-negative priorities (any capacity >= 1)."""

    def __init__(self, capacity: int) -> None:
        capacity = int(capacity)
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._depth = max(0, (capacity - 1).bit_length())  # levels below the root
        self._first_leaf = 1 << self._depth  # P: index of leaf 0
        self._tree = np.zeros(2 * self._first_leaf, dtype=np.float64)  # [2P], slot 0 unused
        self._shifts = np.arange(1, self._depth + 1, dtype=np.int64)[:, None]  # [D, 1] leaf -> parent l + 1 up

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def depth(self) -> int:
        """Number of levels below the root (descent steps per search)."""
        return self._depth

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._tree[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of leaves ``indices`` (a copy, float64, same shape)."""
        indices = self._check_indices(indices)
        return self._tree[indices + self._first_leaf]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaves ``indices`` to ``priorities``; on duplicate indices the last write wins.

        Parents are recomputed from their children level by level, for the touched paths only
        while a level is wide, and as whole contiguous levels near the root. A handful of indices
        is walked up one path at a time in scalar code, which is faster at that size.
        """
        indices = np.asarray(indices)
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.size != indices.size:
            raise ValueError(f"update got {indices.size} indices but {priorities.size} priorities")
        if indices.size <= _SCALAR_UPDATE_MAX:  # a few paths: scalar walks beat per-level numpy calls
            self._update_few(indices, priorities)
            return
        indices = self._check_indices(indices).ravel()  # [K]
        priorities = priorities.ravel()  # [K]
        if indices.size == 0:
            return
        if not (priorities.min() >= 0.0 and priorities.max() < math.inf):  # also False for NaN
            raise ValueError("priorities must be finite and non-negative")
        tree = self._tree
        # Keep the last occurrence of each index (numpy leaves the winner of a repeated fancy
        # assignment unspecified); sorted leaves keep each level's parents sorted too.
        order = np.argsort(indices, kind="stable")  # [K]
        sorted_idx = indices[order]
        last = np.empty(sorted_idx.size, dtype=bool)
        np.not_equal(sorted_idx[1:], sorted_idx[:-1], out=last[:-1])
        last[-1] = True
        nodes = sorted_idx[last] + self._first_leaf  # [U] unique leaves, ascending
        tree[nodes] = priorities[order[last]]
        # The touched paths' parents on every level wider than the whole-level width, all at once: [L, U],
        # row l the parents l + 1 levels up (repeats are harmless: each writes the same exact sum).
        path_levels = max(0, self._depth - max(_WHOLE_LEVEL_WIDTH, 2 * nodes.size).bit_length())
        parents = nodes >> self._shifts[:path_levels]  # [L, U]
        left = parents << 1
        right = left | 1
        for level in range(path_levels):
            tree[parents[level]] = tree[left[level]] + tree[right[level]]
        self._rebuild(top_width=self._first_leaf >> (path_levels + 1))  # the narrow levels: whole, contiguously

    def _update_few(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Sequential scalar updates (later duplicates win); validates everything before writing."""
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        items = list(zip(indices.ravel().tolist(), priorities.ravel().tolist(), strict=True))
        for index, priority in items:
            if not 0 <= index < self._capacity:
                raise IndexError(f"index {index} outside [0, {self._capacity})")
            if not 0.0 <= priority < math.inf:
                raise ValueError(f"priorities must be finite and non-negative, got {priority}")
        tree = self._tree
        for index, priority in items:
            node = index + self._first_leaf
            tree[node] = priority
            node >>= 1
            while node >= 1:
                tree[node] = tree[2 * node] + tree[2 * node + 1]
                node >>= 1

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaf index ``i`` with ``cumsum[i-1] <= v < cumsum[i]`` for each prefix sum ``v``.

        Values are clipped to ``[0, total]``. The returned leaves always have positive priority
        and lie in ``[0, capacity)``, including at the upper edge ``v == total`` where float
        round-off would otherwise step into an empty subtree. Raises if the tree is empty.
        """
        values = np.array(prefix_sums, dtype=np.float64, copy=True).ravel()  # [B]
        total = self._tree[1]
        if not total > 0.0:
            raise ValueError("cannot search a sum tree whose total priority is 0")
        if values.size and not np.all(np.isfinite(values)):
            raise ValueError("prefix sums must be finite")
        np.clip(values, 0.0, total, out=values)
        return self._find_in_range(values)[0]

    def find_stratified(self, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified search (Schaul et al. 2016, App. B.2.1): ``[0, total)`` is cut into ``B = len(uniforms)``
        equal segments, and sample ``i`` is the leaf at fraction ``uniforms[i]`` (in ``[0, 1)``) of segment ``i``.

        Returns the leaf indices (int64 [B]) and their priorities (float64 [B]), without :meth:`find`'s
        checks of arbitrary prefix sums: these are in range by construction.
        """
        uniforms = np.asarray(uniforms, dtype=np.float64).ravel()  # [B]
        total = self._tree[1]
        if not total > 0.0:
            raise ValueError("cannot search a sum tree whose total priority is 0")
        if uniforms.size and not (uniforms.min() >= 0.0 and uniforms.max() < 1.0):
            raise ValueError("stratified search needs uniforms in [0, 1)")
        values = np.arange(uniforms.size, dtype=np.float64)
        values += uniforms
        values *= total / max(uniforms.size, 1)  # [B] in [0, total], stratified
        return self._find_in_range(values)

    def _find_in_range(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leaves (int64 [B]) and their priorities for prefix sums already in ``[0, total]``."""
        nodes = self._search(values.copy())
        priorities = self._tree[nodes]  # [B]
        bad = priorities <= 0.0  # round-off landed on an empty leaf (rare)
        if np.any(bad):
            retry = values[bad]  # from the root, stepping only into subtrees with mass
            nodes[bad] = self._descend(np.ones(retry.shape, dtype=np.int64), retry, self._depth, guarded=True)
            priorities = self._tree[nodes]
        nodes -= self._first_leaf
        return nodes, priorities

    def _search(self, values: np.ndarray) -> np.ndarray:
        """Tree-node indices of the leaves hit by ``values`` (modified in place), all together.

        The start level is searched whole through the cumulative sum of its nodes: the node ``j``
        with ``bounds[j] <= v < bounds[j + 1]`` always has positive mass, and ``v - bounds[j]`` is
        the value left to find inside it; a descent does the rest.
        """
        width = min(_SEARCH_START_WIDTH, self._first_leaf)  # a power of two: the level [width, 2 * width)
        bounds = np.empty(width + 1, dtype=np.float64)  # [W + 1] left edge of each node, then the total
        bounds[0] = 0.0
        np.cumsum(self._tree[width : 2 * width], out=bounds[1:])
        first = np.searchsorted(bounds, values, side="right")  # [B] in [1, W + 1]
        first -= 1
        np.minimum(first, width - 1, out=first)  # v at or past the level's total: its last node
        values -= bounds[first]
        return self._descend(first + width, values, self._depth - (width.bit_length() - 1))

    def _descend(self, nodes: np.ndarray, values: np.ndarray, levels: int, *, guarded: bool = False) -> np.ndarray:
        """Walk ``nodes`` down ``levels`` levels, by the ``values`` left to find (both modified in place).

        ``guarded`` only steps right into a subtree with positive mass, so the descent ends on
        the right-most positive leaf the value can reach even when ``values`` overshoots.
        """
        tree = self._tree
        for _ in range(levels):
            nodes <<= 1  # left children
            left = tree[nodes]  # [B]
            go_right = values >= left  # [B]
            if guarded:
                go_right &= tree[nodes + 1] > 0.0
            left *= go_right
            values -= left
            nodes += go_right
        return nodes

    def state_dict(self) -> dict[str, Any]:
        """Leaf priorities (the internal nodes are rebuilt exactly on load)."""
        first = self._first_leaf
        return {
            "capacity": self._capacity,
            "priorities": self._tree[first : first + self._capacity].copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self._capacity:
            raise ValueError(f"state is for a SumTree of capacity {state['capacity']}, this one has {self._capacity}")
        priorities = np.asarray(state["priorities"], dtype=np.float64)
        if priorities.shape != (self._capacity,):
            raise ValueError(f"expected priorities of shape ({self._capacity},), got {priorities.shape}")
        if not np.all(np.isfinite(priorities)) or np.any(priorities < 0):
            raise ValueError("priorities must be finite and non-negative")
        first = self._first_leaf
        self._tree[:] = 0.0
        self._tree[first : first + self._capacity] = priorities
        self._rebuild()

    def _rebuild(self, top_width: int | None = None) -> None:
        """Recompute the internal levels of width ``top_width`` and above (default: all)."""
        tree = self._tree
        width = self._first_leaf // 2 if top_width is None else top_width
        while width >= 1:
            np.add(tree[2 * width : 4 * width : 2], tree[2 * width + 1 : 4 * width : 2], out=tree[width : 2 * width])
            width //= 2

    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.size == 0:
            return indices.astype(np.int64)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        indices = indices.astype(np.int64, copy=False)
        if indices.min() < 0 or indices.max() >= self._capacity:
            raise IndexError(f"indices must lie in [0, {self._capacity}), got range [{indices.min()}, {indices.max()}]")
        return indices

    def __repr__(self) -> str:
        return f"SumTree(capacity={self._capacity}, total={self.total:.6g})"
