"""Experience replay: storage, samplers (uniform | prioritized), sum tree and n-step returns.

Importing this package registers ``replay/storage`` and ``replay/sampler`` components.
"""

from rlkit.replay.buffer import ReplayBuffer
from rlkit.replay.n_step import NStepAccumulator, Transitions
from rlkit.replay.samplers import PrioritizedSampler, Sampler, UniformSampler
from rlkit.replay.storage import CircularStorage, Storage
from rlkit.replay.sum_tree import SumTree

__all__ = [
    "CircularStorage",
    "NStepAccumulator",
    "PrioritizedSampler",
    "ReplayBuffer",
    "Sampler",
    "Storage",
    "SumTree",
    "Transitions",
    "UniformSampler",
]
