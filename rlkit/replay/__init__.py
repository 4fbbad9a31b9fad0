"""Experience replay: storages (circular | frame_stack), samplers (uniform | prioritized), sum tree
and n-step returns.

Importing this package registers ``replay/storage`` and ``replay/sampler`` components.
"""

from rlkit.replay.buffer import ReplayBuffer
from rlkit.replay.frame_storage import FrameStackStorage
from rlkit.replay.n_step import NStepAccumulator, Transitions
from rlkit.replay.samplers import PrioritizedSampler, Sampler, UniformSampler
from rlkit.replay.storage import CircularStorage, Storage, StorageUpdate
from rlkit.replay.sum_tree import SumTree

__all__ = [
    "CircularStorage",
    "FrameStackStorage",
    "NStepAccumulator",
    "PrioritizedSampler",
    "ReplayBuffer",
    "Sampler",
    "Storage",
    "StorageUpdate",
    "SumTree",
    "Transitions",
    "UniformSampler",
]
