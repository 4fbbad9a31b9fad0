"""Which replay slots to train on: uniform, or proportional prioritized (Schaul et al. 2016).

A sampler only knows slot indices. The storage reports, after every step, which slots received
new sampleable transitions (``on_add``) and which stopped being sampleable (``on_remove``, e.g.
overwritten by wrap-around or missing a frame their stack needs). ``sample`` draws from
``[0, size)``; the uniform sampler may hit unsampleable slots there, which the buffer redraws, while
the prioritized sampler gives them priority 0 so it never draws them.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from rlkit.registry import register
from rlkit.replay.min_tree import MinTree
from rlkit.replay.sum_tree import SumTree


@runtime_checkable
class Sampler(Protocol):
    """What :class:`rlkit.replay.buffer.ReplayBuffer` needs from a sampler.

    A class attribute ``uses_priorities = False`` says it ignores the learner's priorities, so they
    are never sent (a sampler without one is sent them)."""

    capacity: int

    def on_add(self, indices: np.ndarray) -> None: ...

    def on_remove(self, indices: np.ndarray) -> None: ...

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray]: ...

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None: ...

    def set_progress(self, fraction: float) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _check_capacity(capacity: int) -> int:
    capacity = int(capacity)
    if capacity < 1:
        raise ValueError(f"sampler capacity must be >= 1, got {capacity}")
    return capacity


def _check_sample_args(batch_size: int, size: int, capacity: int) -> None:
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if size <= 0:
        raise ValueError("cannot sample from an empty replay buffer (size == 0); add transitions first")
    if size > capacity:
        raise ValueError(f"size {size} exceeds the sampler capacity {capacity}")


def _restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    if state["bit_generator"] != rng.bit_generator.state["bit_generator"]:
        raise ValueError(
            f"saved generator is {state['bit_generator']}, this sampler uses {rng.bit_generator.state['bit_generator']}"
        )
    rng.bit_generator.state = copy.deepcopy(state)


@register("replay/sampler", "uniform")
class UniformSampler:
    """Uniform sampling with replacement over the filled slots (Mnih et al. 2015)."""

    uses_priorities = False  # the learner's priorities are ignored: the loop need not send them

    def __init__(self, *, capacity: int, seed: int = 0) -> None:
        self.capacity = _check_capacity(capacity)
        self._rng = np.random.default_rng(seed)

    def on_add(self, indices: np.ndarray) -> None:
        """Nothing to track: every filled slot is equally likely."""

    def on_remove(self, indices: np.ndarray) -> None:
        """Nothing to track: the buffer redraws slots the storage reports as not sampleable."""

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` slots drawn uniformly from ``[0, size)`` and unit weights."""
        _check_sample_args(batch_size, size, self.capacity)
        indices = self._rng.integers(0, size, size=batch_size, dtype=np.int64)  # [B]
        return indices, np.ones(batch_size, dtype=np.float32)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Uniform replay ignores priorities."""

    def set_progress(self, fraction: float) -> None:
        """Uniform replay has no schedule."""

    def state_dict(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "rng": copy.deepcopy(self._rng.bit_generator.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"state is for capacity {state['capacity']}, sampler has {self.capacity}")
        _restore_rng(self._rng, state["rng"])


@register("replay/sampler", "prioritized")
class PrioritizedSampler:
    """Proportional prioritized replay (Schaul et al. 2016, Sec. 3.3 and Algorithm 1).

    Stored priority ``p_i = (|delta_i| + eps)^alpha``; ``P(i) = p_i / sum_k p_k``. A batch of B is
    drawn stratified: ``[0, total)`` is cut into B equal segments with one uniform draw in each.
    Importance weights ``w_i = (N * P(i))^(-beta) / max_j w_j`` correct the bias, with ``beta``
    annealed linearly from ``beta_start`` to ``beta_end`` over training. ``weight_norm`` says over
    what the max runs: ``buffer_max``, every slot that can be drawn (Schaul et al. 2016, Algorithm 1;
    the largest weight is the least likely slot's, kept by a :class:`MinTree`), or ``batch_max``,
    the sampled batch (Dopamine), which makes the weights of one batch larger than they would be.
    New slots get the largest priority seen so far (1.0 before any update).
    """

    uses_priorities = True

    def __init__(
        self,
        *,
        capacity: int,
        seed: int = 0,
        alpha: float = 0.5,
        beta_start: float = 0.4,
        beta_end: float = 1.0,
        eps: float = 1e-6,
        weight_norm: Literal["buffer_max", "batch_max"] = "batch_max",  # config default: per.weight_norm
    ) -> None:
        self.capacity = _check_capacity(capacity)
        if weight_norm not in ("buffer_max", "batch_max"):
            raise ValueError(f"weight_norm must be 'buffer_max' or 'batch_max', got {weight_norm!r}")
        self.weight_norm = weight_norm
        if not alpha >= 0.0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        for name, value in (("beta_start", beta_start), ("beta_end", beta_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not eps >= 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.alpha = float(alpha)
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.eps = float(eps)
        self._rng = np.random.default_rng(seed)
        self._tree = SumTree(self.capacity)
        self._min_tree = MinTree(self.capacity) if weight_norm == "buffer_max" else None
        self._max_priority = 1.0  # in stored units, (|delta| + eps)^alpha
        self._progress = 0.0

    @property
    def beta(self) -> float:
        """Current importance-sampling exponent."""
        return self.beta_start + (self.beta_end - self.beta_start) * self._progress

    @property
    def max_priority(self) -> float:
        """Largest stored priority so far; what new slots receive."""
        return self._max_priority

    @property
    def tree(self) -> SumTree:
        return self._tree

    def set_progress(self, fraction: float) -> None:
        """Anneal ``beta``: ``fraction`` of training done, clipped to [0, 1]."""
        fraction = float(fraction)
        if math.isnan(fraction):
            raise ValueError("progress fraction is NaN")
        self._progress = min(max(fraction, 0.0), 1.0)

    def on_add(self, indices: np.ndarray) -> None:
        """(Re)written slots start at the maximal priority seen so far."""
        indices = np.asarray(indices, dtype=np.int64)
        self._set(indices, np.full(indices.shape, self._max_priority))

    def _set(self, indices: np.ndarray, stored: np.ndarray) -> None:
        self._tree.update(indices, stored)
        if self._min_tree is not None:
            self._min_tree.update(indices, stored)

    def on_remove(self, indices: np.ndarray) -> None:
        """Slots that stopped being sampleable get priority 0, so they are never drawn."""
        indices = np.asarray(indices, dtype=np.int64)
        self._set(indices, np.zeros(indices.shape))

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Stratified proportional sample: (slots int64 [B], IS weights float32 [B])."""
        _check_sample_args(batch_size, size, self.capacity)
        total = self._tree.total
        if not total > 0.0:
            raise ValueError("all priorities are zero; call on_add for the filled slots")
        indices, priorities = self._tree.find_stratified(self._rng.random(batch_size))  # [B], [B]
        if indices.max() >= size:
            raise RuntimeError(
                f"sampled slot {indices.max()} >= size {size}: slots were given priority "
                "without being written (storage and sampler disagree)"
            )
        probs = priorities / total  # [B] P(i)
        weights = (size * probs) ** -self.beta  # [B]
        if self._min_tree is None:
            weights /= weights.max()
        else:  # the largest weight in the buffer: that of its least likely slot
            weights /= (size * self._min_tree.min / total) ** -self.beta
        return indices, weights.astype(np.float32)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Store ``(priorities + eps)^alpha`` for ``indices``; priorities are raw |TD| or losses."""
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.size and not (priorities.min() >= 0.0 and priorities.max() < math.inf):  # False for NaN too
            raise ValueError("priorities must be finite and non-negative (got NaN/inf or < 0)")
        stored = (priorities + self.eps) ** self.alpha
        self._set(np.asarray(indices, dtype=np.int64), stored)
        if stored.size:
            self._max_priority = max(self._max_priority, float(stored.max()))

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "alpha": self.alpha,
            "eps": self.eps,
            "tree": self._tree.state_dict(),
            "max_priority": self._max_priority,
            "progress": self._progress,
            "rng": copy.deepcopy(self._rng.bit_generator.state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"state is for capacity {state['capacity']}, sampler has {self.capacity}")
        if float(state["alpha"]) != self.alpha or float(state["eps"]) != self.eps:
            raise ValueError(
                f"stored priorities use alpha={state['alpha']}, eps={state['eps']}; this sampler has "
                f"alpha={self.alpha}, eps={self.eps}"
            )
        self._tree.load_state_dict(state["tree"])
        if self._min_tree is not None:
            self._min_tree.rebuild(self._tree.get(np.arange(self.capacity)))
        self._max_priority = float(state["max_priority"])
        self._progress = float(state["progress"])
        _restore_rng(self._rng, state["rng"])
