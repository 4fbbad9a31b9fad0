"""Prioritized replay at 2^20 capacity: rlkit's vectorised sum tree vs a per-item Python loop, and vs cpprb.

Times (median over ``--repeats`` single calls, microseconds) for sampling and priority updates,
at the sampler level (stratified draw + IS weights; eps/alpha transform + tree update) and at the
bare sum-tree level (find / update). The reference is the textbook per-item sum tree
(Schaul et al. 2016, App. B.2.1) written as Python loops over a list, measured in the same run.

Then, where ``cpprb`` (a C++ replay library on PyPI: ``pip install 'rlkit[bench]'``) is installed, its
``PrioritizedReplayBuffer`` against rlkit's ``PrioritizedSampler`` on the same full buffer of priorities:
sample (proportional draw + IS weights; cpprb also gathers one stored int per sample) and priority update,
at batch 32 and 512, the two sides alternating over ``--rounds`` rounds, medians over all calls.

    python benchmarks/replay_per.py --capacity 1048576 --repeats 300
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np

from rlkit.replay.samplers import PrioritizedSampler


class LoopSumTree:
    """Per-item sum tree: same heap layout, one Python loop per index and per sample."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.first_leaf = 1 << max(0, (capacity - 1).bit_length())
        self.tree = [0.0] * (2 * self.first_leaf)

    def fill(self, priorities: np.ndarray) -> None:
        tree, first = self.tree, self.first_leaf
        tree[first : first + len(priorities)] = priorities.tolist()
        for node in range(first - 1, 0, -1):
            tree[node] = tree[2 * node] + tree[2 * node + 1]

    @property
    def total(self) -> float:
        return self.tree[1]

    def update(self, index: int, priority: float) -> None:
        tree = self.tree
        node = index + self.first_leaf
        change = priority - tree[node]
        while node:
            tree[node] += change
            node >>= 1

    def find(self, value: float) -> int:
        tree, node, first = self.tree, 1, self.first_leaf
        while node < first:
            left = 2 * node
            if value < tree[left] or tree[left + 1] <= 0.0:
                node = left
            else:
                value -= tree[left]
                node = left + 1
        return node - first


class LoopPrioritizedSampler:
    """Reference PER sampler over :class:`LoopSumTree`: same maths, per-item Python loops."""

    def __init__(self, capacity: int, *, alpha: float = 0.5, beta: float = 0.4, eps: float = 1e-6) -> None:
        self.tree = LoopSumTree(capacity)
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.max_priority = 1.0
        self.rng = random.Random(0)

    def sample(self, batch_size: int, size: int) -> tuple[list[int], list[float]]:
        tree = self.tree
        total = tree.total
        segment = total / batch_size
        indices, weights = [], []
        for i in range(batch_size):
            index = tree.find((i + self.rng.random()) * segment)
            indices.append(index)
            weights.append((size * tree.tree[index + tree.first_leaf] / total) ** -self.beta)
        largest = max(weights)
        return indices, [w / largest for w in weights]

    def update_priorities(self, indices: list[int], priorities: list[float]) -> None:
        for index, priority in zip(indices, priorities, strict=True):
            stored = (priority + self.eps) ** self.alpha
            self.tree.update(index, stored)
            self.max_priority = max(self.max_priority, stored)


def median_us(fn: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``fn(i)`` in microseconds; ``i`` selects pre-generated inputs."""
    for i in range(min(5, repeats)):  # warm-up
        fn(i)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(
    sampler: PrioritizedSampler,
    loop: LoopPrioritizedSampler,
    batch: int,
    capacity: int,
    repeats: int,
    rng: np.random.Generator,
) -> list[tuple[str, float, float]]:
    """(operation, loop us, rlkit us) rows for one batch size, on identical pre-drawn inputs."""
    tree, loop_tree = sampler.tree, loop.tree
    idx = rng.integers(0, capacity, size=(repeats + 5, batch))  # [R, B]
    prio = rng.exponential(1.0, size=(repeats + 5, batch))  # [R, B] raw |TD|
    stored = (prio + sampler.eps) ** sampler.alpha  # [R, B] tree-level priorities
    values = rng.random((repeats + 5, batch)) * tree.total  # [R, B] prefix sums
    idx_list, prio_list, stored_list, values_list = idx.tolist(), prio.tolist(), stored.tolist(), values.tolist()

    def loop_tree_update(i: int) -> None:
        for j, p in zip(idx_list[i], stored_list[i], strict=True):
            loop_tree.update(j, p)

    rows = []
    if batch > 1:
        rows.append(
            (
                f"sampler sample {batch}",
                median_us(lambda i: loop.sample(batch, capacity), repeats),
                median_us(lambda i: sampler.sample(batch, capacity), repeats),
            )
        )
    rows.append(
        (
            f"sampler update {batch}",
            median_us(lambda i: loop.update_priorities(idx_list[i], prio_list[i]), repeats),
            median_us(lambda i: sampler.update_priorities(idx[i], prio[i]), repeats),
        )
    )
    if batch > 1:
        rows.append(
            (
                f"tree find {batch}",
                median_us(lambda i: [loop_tree.find(v) for v in values_list[i]], repeats),
                median_us(lambda i: tree.find(values[i]), repeats),
            )
        )
    rows.append(
        (
            f"tree update {batch}",
            median_us(loop_tree_update, repeats),
            median_us(lambda i: tree.update(idx[i], stored[i]), repeats),
        )
    )
    return rows


def versus_cpprb(raw: np.ndarray, repeats: int, rounds: int, seed: int) -> None:
    """rlkit's sampler vs cpprb's PrioritizedReplayBuffer: sample and update at batch 32 and 512."""
    try:
        import cpprb
    except ImportError:
        print("\ncpprb not installed (pip install 'rlkit[bench]'): comparison skipped")
        return
    capacity = raw.size
    sampler = PrioritizedSampler(capacity=capacity, alpha=0.5, beta_start=0.4, beta_end=0.4, eps=1e-6, seed=seed)
    sampler.on_add(np.arange(capacity))
    sampler.update_priorities(np.arange(capacity), raw)
    theirs = cpprb.PrioritizedReplayBuffer(capacity, {"slot": {"dtype": np.int64}}, alpha=0.5, eps=1e-6)
    theirs.add(slot=np.arange(capacity), priorities=raw + 1e-6)  # cpprb stores (p + eps)^alpha on its own
    rng = np.random.default_rng(seed)
    print(f"\nvs cpprb {metadata.version('cpprb')}: capacity {capacity}, "
          f"{rounds} alternating rounds of {repeats} calls per side, medians (us)")
    header = f"{'operation':<22}{'cpprb (us)':>14}{'rlkit (us)':>14}{'cpprb / rlkit':>15}"
    print(header)
    print("-" * len(header))
    for batch in (32, 512):
        idx = rng.integers(0, capacity, size=(repeats + 5, batch))
        prio = rng.exponential(1.0, size=(repeats + 5, batch))
        ops = {
            f"sample {batch}": (lambda i, b=batch: theirs.sample(b, beta=0.4),
                                lambda i, b=batch: sampler.sample(b, capacity)),
            f"update {batch}": (lambda i, x=idx, p=prio: theirs.update_priorities(x[i], p[i] + 1e-6),
                                lambda i, x=idx, p=prio: sampler.update_priorities(x[i], p[i])),
        }
        for name, (their_fn, our_fn) in ops.items():
            their_times, our_times = [], []
            for _ in range(rounds):  # alternate, so drift on a shared machine hits both sides
                their_times.append(median_us(their_fn, repeats))
                our_times.append(median_us(our_fn, repeats))
            theirs_us, ours_us = statistics.median(their_times), statistics.median(our_times)
            print(f"{name:<22}{theirs_us:>14.1f}{ours_us:>14.1f}{theirs_us / ours_us:>14.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=2**20, help="replay capacity (slots)")
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per side against cpprb")
    args = parser.parse_args()
    capacity, repeats = args.capacity, args.repeats
    rng = np.random.default_rng(args.seed)

    # Both implementations hold the same full buffer of raw |TD| priorities.
    raw = rng.exponential(1.0, size=capacity)
    sampler = PrioritizedSampler(capacity=capacity, seed=args.seed)
    sampler.on_add(np.arange(capacity))
    sampler.update_priorities(np.arange(capacity), raw)
    loop = LoopPrioritizedSampler(capacity)
    loop.tree.fill((raw + loop.eps) ** loop.alpha)
    tree, loop_tree = sampler.tree, loop.tree

    # Sanity check: both trees answer the same searches.
    probe = rng.random(256) * tree.total
    assert list(tree.find(probe)) == [loop_tree.find(v) for v in probe], "implementations disagree"

    rows: list[tuple[str, float, float]] = []
    for batch in (1, 32, 512):
        rows += measure(sampler, loop, batch, capacity, repeats, rng)

    order = ["sampler sample", "sampler update", "tree find", "tree update"]
    rows.sort(key=lambda r: (order.index(r[0].rsplit(" ", 1)[0]), int(r[0].rsplit(" ", 1)[1])))
    print(
        f"prioritized replay, capacity {capacity} (depth {tree.depth}), median of {repeats} calls; "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    header = f"{'operation':<22}{'python loop (us)':>18}{'rlkit numpy (us)':>18}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name, loop_us, rlkit_us in rows:
        print(f"{name:<22}{loop_us:>18.1f}{rlkit_us:>18.1f}{loop_us / rlkit_us:>9.2f}x")
    versus_cpprb(raw, repeats, args.rounds, args.seed)


if __name__ == "__main__":
    main()
