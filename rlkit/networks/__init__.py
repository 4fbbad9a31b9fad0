"""Networks: layers (``network/layer``), torsos (``network/torso``) and heads (``network/head``).

Importing this package registers every built-in component.
"""

from rlkit.networks import heads, layers, torsos
from rlkit.networks.heads import C51Head, DistributionalHead, DuelingC51Head, DuelingHead, QHead, ScalarHead
from rlkit.networks.layers import (
    FactorisedNoisyLinear,
    IndependentNoisyLinear,
    LayerFactory,
    NoisyLinear,
    linear,
    noisy_factorised,
    noisy_independent,
)
from rlkit.networks.model import QNetwork, build_network
from rlkit.networks.torsos import DataEfficientCNN, MLPTorso, NatureCNN

__all__ = [
    "C51Head",
    "DataEfficientCNN",
    "DistributionalHead",
    "DuelingC51Head",
    "DuelingHead",
    "FactorisedNoisyLinear",
    "IndependentNoisyLinear",
    "LayerFactory",
    "MLPTorso",
    "NatureCNN",
    "NoisyLinear",
    "QHead",
    "QNetwork",
    "ScalarHead",
    "build_network",
    "heads",
    "layers",
    "linear",
    "noisy_factorised",
    "noisy_independent",
    "torsos",
]
