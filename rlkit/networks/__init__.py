"""Networks: layers (``network/layer``), torsos (``network/torso``), heads (``network/head``) and the
heads' output kinds (``network/output``).

Importing this package registers every built-in component.
"""

from rlkit.networks import heads, layers, outputs, torsos
from rlkit.networks.heads import DuelingHead, Head, QHead
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
from rlkit.networks.outputs import (
    CategoricalKind,
    CategoricalValues,
    HeadOutput,
    ImplicitQuantileKind,
    OutputKind,
    QuantileKind,
    QuantileValues,
    ScalarKind,
    ScalarValues,
)
from rlkit.networks.torsos import DataEfficientCNN, MLPTorso, NatureCNN

__all__ = [
    "CategoricalKind",
    "CategoricalValues",
    "DataEfficientCNN",
    "DuelingHead",
    "FactorisedNoisyLinear",
    "Head",
    "HeadOutput",
    "ImplicitQuantileKind",
    "IndependentNoisyLinear",
    "LayerFactory",
    "MLPTorso",
    "NatureCNN",
    "NoisyLinear",
    "OutputKind",
    "QHead",
    "QNetwork",
    "QuantileKind",
    "QuantileValues",
    "ScalarKind",
    "ScalarValues",
    "build_network",
    "heads",
    "layers",
    "linear",
    "noisy_factorised",
    "noisy_independent",
    "outputs",
    "torsos",
]
