"""Heads (q, dueling) with every output kind (scalar, categorical, quantile, implicit quantile), torsos
and the network builder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rlkit.networks  # noqa: F401  (registers components)
from rlkit.networks.heads import DuelingHead, QHead
from rlkit.networks.layers import FactorisedNoisyLinear, NoisyLinear, noisy_factorised
from rlkit.networks.model import build_network
from rlkit.networks.outputs import CategoricalKind
from rlkit.registry import build


def C51Head(*, num_atoms: int = 51, v_min: float = -10.0, v_max: float = 10.0, **kwargs) -> QHead:
    return QHead(output=CategoricalKind(num_atoms=num_atoms, v_min=v_min, v_max=v_max), **kwargs)


def DuelingC51Head(*, num_atoms: int = 51, v_min: float = -10.0, v_max: float = 10.0, **kwargs) -> DuelingHead:
    return DuelingHead(output=CategoricalKind(num_atoms=num_atoms, v_min=v_min, v_max=v_max), **kwargs)


def test_q_head_shapes_and_identity_q_values() -> None:
    torch.manual_seed(0)
    head = QHead(in_features=8, num_actions=3, layer=nn.Linear, hidden_sizes=[16, 16])
    out = head(torch.randn(5, 8))
    assert out.values.shape == (5, 3) and head.kind == "scalar"
    assert out.q_values is out.values
    assert [m.out_features for m in head.modules() if isinstance(m, nn.Linear)] == [16, 16, 3]


def test_dueling_identity() -> None:
    torch.manual_seed(0)
    head = DuelingHead(in_features=8, num_actions=4, layer=nn.Linear, hidden_sizes=[16])
    x = torch.randn(6, 8)
    q = head(x).q_values  # [B, A]
    v = head.value(x)  # [B, 1]
    a = head.advantage(x)  # [B, A]
    assert q.shape == (6, 4) and v.shape == (6, 1)
    torch.testing.assert_close(q - v, a - a.mean(dim=1, keepdim=True))
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), v)


def test_dueling_streams_are_separate_and_capture_via_hooks() -> None:
    torch.manual_seed(0)
    head = DuelingHead(in_features=8, num_actions=3, layer=nn.Linear, hidden_sizes=[16])
    seen: dict[str, torch.Tensor] = {}
    head.value.register_forward_hook(lambda m, i, o: seen.__setitem__("v", o))
    head.advantage.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o))
    q = head(torch.randn(4, 8)).q_values
    torch.testing.assert_close(q, seen["v"] + seen["a"] - seen["a"].mean(1, keepdim=True))
    value_params = {id(p) for p in head.value.parameters()}
    assert not value_params & {id(p) for p in head.advantage.parameters()}


def test_dueling_c51_identity_per_atom() -> None:
    torch.manual_seed(0)
    head = DuelingC51Head(in_features=8, num_actions=3, layer=nn.Linear, hidden_sizes=[16], num_atoms=5)
    x = torch.randn(4, 8)
    logits = head(x).logits  # [B, A, N]
    v = head.value(x).view(4, 1, 5)
    a = head.advantage(x).view(4, 3, 5)
    assert logits.shape == (4, 3, 5)
    torch.testing.assert_close(logits - v, a - a.mean(dim=1, keepdim=True))
    torch.testing.assert_close(logits.mean(dim=1, keepdim=True), v)


@pytest.mark.parametrize("cls", [C51Head, DuelingC51Head])
def test_c51_support_q_values_and_log_probs(cls) -> None:
    torch.manual_seed(0)
    head = cls(in_features=8, num_actions=3, layer=nn.Linear, hidden_sizes=[16], num_atoms=11, v_min=-5, v_max=5)
    assert head.kind == "categorical"
    assert "output.support" in dict(head.named_buffers())
    torch.testing.assert_close(head.output.support, torch.arange(-5.0, 6.0))
    out = head(torch.randn(2, 8))
    logits = out.logits
    assert logits.shape == (2, 3, 11)
    q = out.q_values
    probs = torch.softmax(logits, -1)
    for b in range(2):
        for act in range(3):
            expected = sum(probs[b, act, j].item() * (j - 5) for j in range(11))
            assert q[b, act].item() == pytest.approx(expected, abs=1e-5)


def test_c51_hand_computed_expectation() -> None:
    head = C51Head(in_features=1, num_actions=1, layer=nn.Linear, hidden_sizes=[], num_atoms=3, v_min=0, v_max=2)
    logits = torch.log(torch.tensor([[[0.2, 0.5, 0.3]]]))
    assert head.output.wrap(logits, None).q_values.item() == pytest.approx(0.5 + 0.6)


@pytest.mark.parametrize("cls", [C51Head, DuelingC51Head])
def test_c51_rejects_bad_support(cls) -> None:
    with pytest.raises(ValueError, match="num_atoms"):
        cls(in_features=4, num_actions=2, layer=nn.Linear, num_atoms=1)
    with pytest.raises(ValueError, match="v_min"):
        cls(in_features=4, num_actions=2, layer=nn.Linear, v_min=1.0, v_max=1.0)
    with pytest.raises(ValueError, match="v_min"):
        cls(in_features=4, num_actions=2, layer=nn.Linear, v_min=2.0, v_max=-2.0)


@pytest.mark.parametrize(("name", "output", "expected"), [
    ("q", "scalar", 2), ("dueling", "scalar", 4), ("q", "categorical", 2), ("dueling", "categorical", 4),
    ("q", "quantile", 2), ("dueling", "implicit_quantile", 4),
])  # fmt: skip
def test_noisy_layers_cover_every_fc_layer_of_the_head(name: str, output: str, expected: int) -> None:
    head = build(
        "network/head",
        {"name": name, "hidden_sizes": [16]},
        in_features=8,
        num_actions=3,
        layer=noisy_factorised(),
        output=build("network/output", {"name": output}, in_features=8),
    )
    assert sum(isinstance(m, FactorisedNoisyLinear) for m in head.modules()) == expected
    # every stream layer is noisy; IQN's fraction embedding is a plain layer (it is not a stream)
    plain = [name for name, m in head.named_modules() if type(m) is nn.Linear]
    assert plain == (["output.embedding"] if output == "implicit_quantile" else [])


# -- torsos --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "features"), [("nature_cnn", 3136), ("der_cnn", 576)])
def test_cnn_output_shapes(name: str, features: int) -> None:
    torso = build("network/torso", {"name": name}, obs_shape=(4, 84, 84))
    assert torso.out_features == features
    assert torso(torch.zeros(2, 4, 84, 84)).shape == (2, features)


@pytest.mark.parametrize("name", ["nature_cnn", "der_cnn"])
def test_cnn_uint8_equals_float_over_255(name: str) -> None:
    torch.manual_seed(0)
    torso = build("network/torso", {"name": name}, obs_shape=(4, 84, 84))
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(torso(frames), torso(frames.float() / 255.0))


def test_cnn_rejects_bad_obs_shape() -> None:
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        build("network/torso", {"name": "nature_cnn"}, obs_shape=(84, 84))
    with pytest.raises(ValueError, match="too small"):
        build("network/torso", {"name": "nature_cnn"}, obs_shape=(4, 20, 20))


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_mlp_torso(activation: str) -> None:
    torch.manual_seed(0)
    torso = build(
        "network/torso", {"name": "mlp", "hidden_sizes": [32, 16], "activation": activation}, obs_shape=(2, 3)
    )
    assert torso.out_features == 16
    x = torch.randn(5, 2, 3)
    linears = [m for m in torso.modules() if isinstance(m, nn.Linear)]
    act = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu}[activation]
    expected = act(linears[1](act(linears[0](x.flatten(1)))))
    torch.testing.assert_close(torso(x), expected)
    frames = torch.randint(0, 256, (5, 2, 3), dtype=torch.uint8)
    torch.testing.assert_close(torso(frames), torso(frames.float() / 255.0))
    with pytest.raises(ValueError, match="activation"):
        build("network/torso", {"name": "mlp", "activation": "gelu"}, obs_shape=(4,))


def test_build_network_assembles_parts() -> None:
    torch.manual_seed(0)
    net = build_network(
        torso_cfg={"name": "der_cnn"},
        head_cfg={"name": "dueling", "hidden_sizes": [32],
                  "output": {"name": "categorical", "num_atoms": 7, "v_min": -1.0, "v_max": 1.0}},
        layer_cfg={"name": "noisy_factorised", "sigma0": 0.1},
        obs_shape=[4, 84, 84],
        num_actions=5,
    )
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    assert net(obs).logits.shape == (3, 5, 7)
    assert net.q_values(obs).shape == (3, 5)
    assert net.distributional and net.kind == "categorical"
    torch.testing.assert_close(net.head.output.support, torch.linspace(-1, 1, 7))
    layers = net.noisy_layers()
    assert len(layers) == 4 and all(isinstance(m, NoisyLinear) for _, m in layers)
    assert layers[0][1].in_features == 576
    assert torch.all(layers[0][1].weight_sigma == 0.1 / 24)


def test_weights_saved_before_output_kinds_still_load() -> None:
    """model.pt files written when C51 heads kept their support on the head (``head.support``)."""
    torch.manual_seed(0)
    head = C51Head(in_features=4, num_actions=2, layer=nn.Linear, hidden_sizes=[8], num_atoms=5, v_min=-1, v_max=1)
    legacy = {("support" if key == "output.support" else key): value for key, value in head.state_dict().items()}
    assert "support" in legacy and "output.support" not in legacy
    torch.manual_seed(1)
    fresh = C51Head(in_features=4, num_actions=2, layer=nn.Linear, hidden_sizes=[8], num_atoms=5, v_min=-1, v_max=1)
    fresh.load_state_dict(legacy)
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), fresh.state_dict().values(), strict=True))
