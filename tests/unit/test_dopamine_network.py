"""Dopamine's FullRainbowNetwork as knobs (dopamine/jax/networks.py): SAME-padded Xavier-uniform Nature CNN,
a dueling head with one shared hidden layer; the defaults stay the former networks bit for bit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rlkit.networks  # noqa: F401  (registers components)
from rlkit.networks.heads import DuelingHead, QHead
from rlkit.networks.layers import FactorisedNoisyLinear, noisy_factorised
from rlkit.networks.torsos import DataEfficientCNN, NatureCNN, same_padding
from tests.helpers import compose

NATURE = ((32, 8, 4), (64, 4, 2), (64, 3, 1))  # (channels, kernel, stride)


def _flax_same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """jax.lax.padtype_to_pads('SAME'): ceil(size / stride) outputs, the smaller half of the padding first."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _convs(torso: nn.Module) -> list[nn.Conv2d]:
    return [m for m in torso.modules() if isinstance(m, nn.Conv2d)]


# ------------------------------------------------------------------------------------- SAME padding
def test_same_padding_sizes_match_flax_and_give_7744_features():
    # 84 -> 21 -> 11 -> 11: pads (2, 2), (1, 2) (asymmetric: the odd pixel after), (1, 1)
    assert [same_padding(84, 8, 4), same_padding(21, 4, 2), same_padding(11, 3, 1)] == [(2, 2), (1, 2), (1, 1)]
    for size in range(1, 40):
        for kernel, stride in ((8, 4), (4, 2), (3, 1), (5, 5), (1, 3)):
            assert same_padding(size, kernel, stride) == _flax_same(size, kernel, stride), (size, kernel, stride)
    same = NatureCNN(obs_shape=(4, 84, 84), padding="same")
    pads = [m.padding for m in same.modules() if isinstance(m, nn.ZeroPad2d)]  # (left, right, top, bottom)
    assert pads == [(2, 2, 2, 2), (1, 2, 1, 2), (1, 1, 1, 1)]
    assert same.out_features == 11 * 11 * 64 == 7744
    assert same(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 7744)
    assert NatureCNN(obs_shape=(4, 84, 84)).out_features == 7 * 7 * 64 == 3136
    # height and width padded separately: 13x20 -> 4x5 -> 2x3 -> 2x3
    odd = NatureCNN(obs_shape=(1, 13, 20), padding="same")
    assert odd.out_features == 2 * 3 * 64 and odd(torch.zeros(1, 1, 13, 20)).shape == (1, 384)


def test_same_padding_equals_a_hand_padded_valid_convolution():
    torch.manual_seed(0)
    torso = NatureCNN(obs_shape=(4, 84, 84), padding="same", init="xavier_uniform")
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    x = obs.float() / 255  # Dopamine's preprocess_atari_inputs
    for conv, pad in zip(_convs(torso), ((2, 2, 2, 2), (1, 2, 1, 2), (1, 1, 1, 1)), strict=True):
        x = F.relu(F.conv2d(F.pad(x, pad), conv.weight, conv.bias, stride=conv.stride))
    assert x.shape == (3, 64, 11, 11)
    assert torch.equal(torso(obs), x.flatten(1))


def _reach(torso: nn.Module, obs_shape: tuple[int, int, int], at: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Input rows and columns whose value reaches output position ``at`` of channel 0 (all-positive weights:
    every ReLU is on, so the gradient is non-zero exactly on the receptive field)."""
    with torch.no_grad():
        for conv in _convs(torso):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    x = torch.ones(1, *obs_shape, requires_grad=True)
    out = torso.convs(x)
    out[0, 0, at[0], at[1]].backward()
    hit = x.grad[0].abs().sum(0) > 0  # [H, W]
    return hit.any(1).nonzero().flatten().tolist(), hit.any(0).nonzero().flatten().tolist()


def test_same_padding_receptive_fields():
    # first layer: window rows -2..5 of the input padded by 2 before -> input rows 0..5 (VALID: 0..7)
    first = NatureCNN(obs_shape=(1, 84, 84), padding="same")
    first.convs = first.convs[:2]  # ZeroPad2d, Conv2d
    assert _reach(first, (1, 84, 84), (0, 0)) == (list(range(6)), list(range(6)))
    assert _reach(first, (1, 84, 84), (20, 20)) == (list(range(78, 84)), list(range(78, 84)))  # 78..85, 2 padded
    valid = NatureCNN(obs_shape=(1, 84, 84))
    valid.convs = valid.convs[:1]
    assert _reach(valid, (1, 84, 84), (0, 0)) == (list(range(8)), list(range(8)))
    # the whole torso: output (0, 0) sees input rows/cols 0..21, output (10, 10) rows/cols 66..83
    whole = NatureCNN(obs_shape=(1, 84, 84), padding="same")
    assert _reach(whole, (1, 84, 84), (0, 0)) == (list(range(22)), list(range(22)))
    assert _reach(whole, (1, 84, 84), (10, 10)) == (list(range(66, 84)), list(range(66, 84)))


# ------------------------------------------------------------------------------------- Xavier init
def _assert_xavier(layers: list[nn.Module]) -> None:
    for layer in layers:
        weight = layer.weight.detach()
        receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
        fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
        bound = math.sqrt(6.0 / (fan_in + fan_out))  # flax xavier_uniform = variance_scaling(1, fan_avg, uniform)
        assert float(weight.abs().max()) <= bound
        assert float(weight.abs().max()) > 0.95 * bound  # uniform over the whole interval
        if weight.numel() >= 1000:
            assert float(weight.std()) == pytest.approx(bound / math.sqrt(3.0), rel=0.05)
        assert torch.equal(layer.bias.detach(), torch.zeros_like(layer.bias))  # flax's zero bias_init


def test_xavier_uniform_bounds_and_zero_biases():
    torch.manual_seed(1)
    torso = NatureCNN(obs_shape=(4, 84, 84), padding="same", init="xavier_uniform")
    _assert_xavier(_convs(torso))  # bounds sqrt(6 / (4*64 + 32*64)), sqrt(6 / (32*16 + 64*16)), ...
    head = DuelingHead(in_features=7744, num_actions=6, layer=nn.Linear, shared_hidden=True, init="xavier_uniform")
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7744, 512), (512, 1), (512, 6)]
    _assert_xavier(linears)
    with pytest.raises(ValueError, match="init"):
        NatureCNN(obs_shape=(4, 84, 84), init="glorot")
    with pytest.raises(ValueError, match="padding"):
        NatureCNN(obs_shape=(4, 84, 84), padding="full")


# ------------------------------------------------------------------------------------- dueling head
def test_shared_hidden_dueling_head_is_v_plus_a_minus_mean_a_of_its_layers():
    torch.manual_seed(2)
    head = DuelingHead(in_features=10, num_actions=4, layer=nn.Linear, hidden_sizes=[16], shared_hidden=True)
    assert sum(p.numel() for p in head.parameters()) == (10 * 16 + 16) + (16 + 1) + (16 * 4 + 4)
    x = torch.randn(5, 10)
    (w1, b1), (wv, bv), (wa, ba) = ((m.weight, m.bias) for m in (head.hidden[0], head.value, head.advantage))
    hidden = torch.relu(x @ w1.T + b1)  # [B, 16], one layer for both outputs
    value, advantage = hidden @ wv.T + bv, hidden @ wa.T + ba  # [B, 1], [B, A]
    expected = value + advantage - advantage.mean(1, keepdim=True)
    torch.testing.assert_close(head(x).q_values, expected, rtol=1e-6, atol=1e-6)
    # a number: with every weight 0.1 and bias 0, x = 1: hidden = 1, V = 1.6, A = 1.6 each, Q = 1.6
    with torch.no_grad():
        for name, p in head.named_parameters():
            p.fill_(0.1 if name.endswith("weight") else 0.0)
    torch.testing.assert_close(head(torch.ones(1, 10)).q_values, torch.full((1, 4), 1.6))


def test_shared_hidden_with_noisy_layers_and_xavier_refused_for_them():
    head = DuelingHead(in_features=8, num_actions=3, layer=noisy_factorised(), hidden_sizes=[16], shared_hidden=True)
    assert sum(isinstance(m, FactorisedNoisyLinear) for m in head.modules()) == 3  # shared, value, advantage
    assert head(torch.randn(2, 8)).q_values.shape == (2, 3)
    with pytest.raises(ValueError, match="noisy layers keep their own initialisation"):
        DuelingHead(in_features=8, num_actions=3, layer=noisy_factorised(), init="xavier_uniform")
    with pytest.raises(ValueError, match="init"):
        DuelingHead(in_features=8, num_actions=3, layer=nn.Linear, init="lecun")
    with pytest.raises(TypeError, match="shared_hidden must be true or false"):
        DuelingHead(in_features=8, num_actions=3, layer=nn.Linear, shared_hidden="yes")


# ------------------------------------------------------------------------------------- defaults unchanged
def test_defaults_build_the_former_networks_bit_for_bit():
    obs = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(4)  # the former NatureCNN: unpadded Conv2d/ReLU triples with torch's init
    old = nn.Sequential(nn.Conv2d(4, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(), nn.Conv2d(64, 64, 3, 1),
                        nn.ReLU())
    torch.manual_seed(4)
    new = NatureCNN(obs_shape=(4, 84, 84), channels_last=False)  # NCHW: bit for bit (NHWC: tests/unit/test_channels_last.py)
    assert list(new.convs.state_dict()) == list(old.state_dict())  # same keys: old checkpoints load
    assert all(torch.equal(a, b) for a, b in zip(new.convs.state_dict().values(), old.state_dict().values()))
    assert torch.equal(new(obs), old(obs.float() / 255).flatten(1)) and new.out_features == 3136

    def old_stream(width: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, width))

    torch.manual_seed(5)  # the former DuelingHead: value stream, then advantage stream
    old_value, old_advantage = old_stream(1), old_stream(6)
    old_rng = torch.get_rng_state()
    torch.manual_seed(5)
    head = DuelingHead(in_features=3136, num_actions=6, layer=nn.Linear)
    assert torch.equal(torch.get_rng_state(), old_rng)  # the same draws: later modules get the same init too
    old_state = {**{f"value.{k}": v for k, v in old_value.state_dict().items()},
                 **{f"advantage.{k}": v for k, v in old_advantage.state_dict().items()}}
    assert list(head.state_dict()) == list(old_state)
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), old_state.values()))
    features = new(obs)
    v, a = old_value(features), old_advantage(features)
    assert torch.equal(head(features).q_values, v + a - a.mean(1, keepdim=True))
    # the base class and the head helper the other parts share: der_cnn and the q head as before
    torch.manual_seed(6)
    old_der = nn.Sequential(nn.Conv2d(4, 32, 5, 5), nn.ReLU(), nn.Conv2d(32, 64, 5, 5), nn.ReLU())
    old_q = old_stream(6)
    torch.manual_seed(6)
    der, q = DataEfficientCNN(obs_shape=(4, 84, 84)), QHead(in_features=3136, num_actions=6, layer=nn.Linear)
    assert der.convs[0].weight.is_contiguous(memory_format=torch.channels_last)  # the default layout: NHWC
    for module, old_module in ((der.convs, old_der), (q.net, old_q)):
        assert list(module.state_dict()) == list(old_module.state_dict())
        assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), old_module.state_dict().values()))


# ------------------------------------------------------------------------------------- the preset
def test_drq_eps_experiment_composes_validates_and_builds_dopamines_network():
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from rlkit.validation import validate_config

    cfg = compose("experiment=atari100k_drq_eps", "torch_threads=1", "replay.capacity=1000")
    assert validate_config(cfg) == []
    assert (cfg.network.torso.padding, cfg.network.torso.init) == ("same", "xavier_uniform")
    assert (cfg.network.head.shared_hidden, cfg.network.head.init) == (True, "xavier_uniform")
    torch.manual_seed(0)
    online = build_parts(cfg, torch.device("cpu")).agent.online
    assert online.torso.out_features == 7744
    head = online.head
    assert head.shared_hidden and [m.out_features for m in head.modules() if isinstance(m, nn.Linear)] == [512, 1, 6]
    _assert_xavier(_convs(online.torso) + [m for m in head.modules() if isinstance(m, nn.Linear)])
    assert online.q_values(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 6)
    # CartPole (mlp torso, no augmentation) still validates; other presets keep today's networks
    assert validate_config(compose("agent=drq_eps")) == []
    for agent in ("dueling", "der", "dqn"):
        other = compose(f"agent={agent}", "env=atari")
        assert "padding" not in other.network.torso and "intensity_scale" not in other.augmentation
        head = other.network.head
        assert (head.get("shared_hidden", False), head.get("init", "torch")) == (False, "torch")
