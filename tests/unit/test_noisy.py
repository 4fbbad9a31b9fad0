"""Noisy linear layers (Fortunato et al. 2018): noise structure, initialisation, caching, SNR."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rlkit.networks  # noqa: F401  (registers components)
from rlkit.networks.layers import FactorisedNoisyLinear, IndependentNoisyLinear, NoisyLinear
from rlkit.networks.model import QNetwork, build_network
from rlkit.registry import build


def _f(x: torch.Tensor) -> torch.Tensor:
    return x.sign() * x.abs().sqrt()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _manual_output(layer: NoisyLinear, x: torch.Tensor) -> torch.Tensor:
    w = layer.weight_mu + layer.weight_sigma * layer.weight_epsilon
    b = layer.bias_mu + layer.bias_sigma * layer.bias_epsilon
    return F.linear(x, w, b)


LAYERS = [
    pytest.param(lambda i, o: FactorisedNoisyLinear(i, o), id="factorised"),
    pytest.param(lambda i, o: IndependentNoisyLinear(i, o), id="independent"),
]


def test_factorised_noise_is_rank_one_outer_product() -> None:
    layer = FactorisedNoisyLinear(7, 5)
    layer.reset_noise(_gen(3))
    ref = _gen(3)
    eps_in = _f(torch.randn(7, generator=ref))
    eps_out = _f(torch.randn(5, generator=ref))
    assert torch.linalg.matrix_rank(layer.weight_epsilon).item() == 1
    torch.testing.assert_close(layer.weight_epsilon, torch.outer(eps_out, eps_in), rtol=0, atol=0)
    torch.testing.assert_close(layer.bias_epsilon, eps_out, rtol=0, atol=0)


def test_independent_noise_is_elementwise_gaussian() -> None:
    layer = IndependentNoisyLinear(7, 5)
    layer.reset_noise(_gen(3))
    ref = _gen(3)
    torch.testing.assert_close(layer.weight_epsilon, torch.randn(35, generator=ref).view(5, 7))
    torch.testing.assert_close(layer.bias_epsilon, torch.randn(5, generator=ref))
    assert torch.linalg.matrix_rank(layer.weight_epsilon).item() == 5
    big = IndependentNoisyLinear(200, 100)  # 20,000 draws: moments of N(0, 1)
    big.reset_noise(_gen(0))
    assert abs(big.weight_epsilon.mean().item()) < 0.03
    assert abs(big.weight_epsilon.std().item() - 1.0) < 0.03


def test_factorised_initialisation_matches_paper() -> None:
    torch.manual_seed(0)
    p = 256
    layer = FactorisedNoisyLinear(p, 128, sigma0=0.5)
    bound = 1 / math.sqrt(p)
    for mu in (layer.weight_mu, layer.bias_mu):
        assert mu.abs().max().item() <= bound
    assert layer.weight_mu.abs().max().item() > 0.99 * bound  # the whole range is used
    assert layer.weight_mu.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert torch.all(layer.weight_sigma == 0.5 / 16) and torch.all(layer.bias_sigma == 0.5 / 16)


def test_independent_initialisation_matches_paper() -> None:
    torch.manual_seed(0)
    p = 300
    layer = IndependentNoisyLinear(p, 100, sigma=0.017)
    bound = math.sqrt(3 / p)
    for mu in (layer.weight_mu, layer.bias_mu):
        assert mu.abs().max().item() <= bound
    assert layer.weight_mu.abs().max().item() > 0.99 * bound
    assert layer.weight_mu.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # = 1/sqrt(p)
    assert torch.all(layer.weight_sigma == 0.017) and torch.all(layer.bias_sigma == 0.017)


@pytest.mark.parametrize("make", LAYERS)
def test_use_mean_is_deterministic_and_uses_mu(make) -> None:
    torch.manual_seed(0)
    layer = make(6, 4)
    x = torch.randn(3, 6)
    layer.use_mean = True
    expected = F.linear(x, layer.weight_mu, layer.bias_mu)
    first = layer(x)
    layer.reset_noise()
    with torch.no_grad():
        second = layer(x)
    torch.testing.assert_close(first, expected, rtol=0, atol=0)
    torch.testing.assert_close(second, expected, rtol=0, atol=0)
    layer.use_mean = False  # back to noise: differs from the mean output
    with torch.no_grad():
        assert not torch.allclose(layer(x), expected)


@pytest.mark.parametrize("make", LAYERS)
def test_reset_noise_changes_output(make) -> None:
    torch.manual_seed(0)
    layer = make(6, 4)
    x = torch.randn(3, 6)
    before = layer(x).detach()
    torch.testing.assert_close(layer(x).detach(), before, rtol=0, atol=0)  # fixed until reset
    layer.reset_noise()
    after = layer(x).detach()
    assert (after - before).abs().max().item() > 1e-4
    torch.testing.assert_close(after, _manual_output(layer, x).detach())


@pytest.mark.parametrize("make", LAYERS)
def test_sigma_receives_gradient(make) -> None:
    torch.manual_seed(0)
    layer = make(6, 4)
    x = torch.randn(3, 6)
    layer(x).sum().backward()
    # d(sum y)/d sigma_w[o, i] = eps_w[o, i] * sum_b x[b, i];  d/d sigma_b[o] = B * eps_b[o]
    expected_w = layer.weight_epsilon * x.sum(0, keepdim=True)
    torch.testing.assert_close(layer.weight_sigma.grad, expected_w)
    torch.testing.assert_close(layer.bias_sigma.grad, 3 * layer.bias_epsilon)
    assert layer.weight_sigma.grad.abs().sum().item() > 0
    torch.testing.assert_close(layer.weight_mu.grad, x.sum(0, keepdim=True).expand(4, 6))


@pytest.mark.parametrize("make", LAYERS)
def test_no_grad_cache_matches_grad_path_and_is_reused(make) -> None:
    torch.manual_seed(0)
    layer = make(6, 4)
    x = torch.randn(3, 6)
    with_grad = layer(x).detach()
    with torch.no_grad():
        first = layer(x)
        cached_weight = layer._cache[1]
        second = layer(x)
        assert layer._cache[1] is cached_weight  # built once per noise sample
    torch.testing.assert_close(first, with_grad)
    torch.testing.assert_close(second, with_grad)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), with_grad)


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
@pytest.mark.parametrize("make", LAYERS)
def test_cache_invalidated_by_optimizer_step(make, optimizer) -> None:
    torch.manual_seed(0)
    layer = make(6, 4)
    x = torch.randn(3, 6)
    opt = optimizer(layer.parameters(), lr=0.1)
    with torch.no_grad():
        before = layer(x)
    layer(x).square().sum().backward()
    opt.step()
    with torch.no_grad():
        after = layer(x)
    assert (after - before).abs().max().item() > 1e-3
    torch.testing.assert_close(after, _manual_output(layer, x))


@pytest.mark.parametrize("make", LAYERS)
def test_cache_invalidated_by_reset_noise_and_load_state_dict(make) -> None:
    torch.manual_seed(0)
    layer, other = make(6, 4), make(6, 4)
    x = torch.randn(3, 6)
    with torch.no_grad():
        before = layer(x)
        layer.reset_noise()
        after_reset = layer(x)
        assert (after_reset - before).abs().max().item() > 1e-4
        torch.testing.assert_close(after_reset, _manual_output(layer, x))
        layer.load_state_dict(other.state_dict())  # e.g. a target-network sync
        torch.testing.assert_close(layer(x), _manual_output(other, x), rtol=0, atol=0)
        layer.weight_mu.data.add_(1.0)  # .data bypasses version counters: clear_cache() is the escape hatch
        layer.clear_cache()
        torch.testing.assert_close(layer(x), _manual_output(layer, x))


def test_cache_invalidated_by_dtype_change_and_not_pickled() -> None:
    torch.manual_seed(0)
    layer = FactorisedNoisyLinear(6, 4)
    x = torch.randn(3, 6)
    with torch.no_grad():
        layer(x)
        assert layer._cache is not None
        clone = copy.deepcopy(layer)
        assert clone._cache is None
        layer.double()
        out = layer(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, _manual_output(layer, x.double()))


@pytest.mark.parametrize("make", LAYERS)
def test_snr_matches_hand_computation(make) -> None:
    torch.manual_seed(0)
    layer = make(5, 3)
    with torch.no_grad():
        layer.weight_sigma.uniform_(0.01, 0.2)
        layer.bias_sigma.uniform_(0.01, 0.2)
    mu = [*layer.weight_mu.flatten().tolist(), *layer.bias_mu.tolist()]
    sigma = [*layer.weight_sigma.flatten().tolist(), *layer.bias_sigma.tolist()]
    rms = lambda v: math.sqrt(sum(e * e for e in v) / len(v))  # noqa: E731
    assert layer.snr() == pytest.approx(rms(mu) / rms(sigma), rel=1e-5)


def test_factorised_snr_at_init_is_close_to_analytic_value() -> None:
    # RMS(mu) = (1/sqrt p)/sqrt 3, RMS(sigma) = 0.5/sqrt p  =>  SNR = 2/sqrt(3) ~ 1.1547
    torch.manual_seed(0)
    assert FactorisedNoisyLinear(256, 256).snr() == pytest.approx(2 / math.sqrt(3), rel=0.01)


def test_registry_builds_layer_factories() -> None:
    factorised = build("network/layer", {"name": "noisy_factorised", "sigma0": 0.3})(16, 3)
    assert isinstance(factorised, FactorisedNoisyLinear)
    assert torch.all(factorised.weight_sigma == 0.3 / 4)
    independent = build("network/layer", {"name": "noisy_independent", "sigma": 0.05})(16, 3)
    assert isinstance(independent, IndependentNoisyLinear)
    assert torch.all(independent.bias_sigma == 0.05)
    plain = build("network/layer", {"name": "linear"})(16, 3)
    assert type(plain) is nn.Linear and plain.weight.shape == (3, 16)


def test_qnetwork_noise_controls() -> None:
    torch.manual_seed(0)
    net = build_network(
        torso_cfg={"name": "mlp", "hidden_sizes": [8]},
        head_cfg={"name": "dueling", "hidden_sizes": [8]},
        layer_cfg={"name": "noisy_factorised"},
        obs_shape=(4,),
        num_actions=3,
    )
    names = [name for name, _ in net.noisy_layers()]
    assert names == ["head.value.0", "head.value.2", "head.advantage.0", "head.advantage.2"]
    x = torch.randn(5, 4)
    net.reset_noise(_gen(1))
    a = net.q_values(x).detach()
    net.reset_noise(_gen(2))
    b = net.q_values(x).detach()
    net.reset_noise(_gen(1))  # same generator seed -> same noise in every layer
    torch.testing.assert_close(net.q_values(x).detach(), a, rtol=0, atol=0)
    assert (a - b).abs().max().item() > 1e-4
    net.set_noise_mean(True)
    m1 = net.q_values(x).detach()
    net.reset_noise()
    torch.testing.assert_close(net.q_values(x).detach(), m1, rtol=0, atol=0)
    net.set_noise_mean(False)
    metrics = net.snr_metrics()
    assert sorted(metrics) == sorted(f"noise/snr/{n}" for n in names)
    for name, layer in net.noisy_layers():
        assert metrics[f"noise/snr/{name}"] == pytest.approx(layer.snr(), rel=1e-6)


def test_qnetwork_without_noisy_layers_is_a_no_op() -> None:
    torch.manual_seed(0)
    net = build_network(
        torso_cfg={"name": "mlp", "hidden_sizes": [8]},
        head_cfg={"name": "q", "hidden_sizes": [8]},
        layer_cfg={"name": "linear"},
        obs_shape=(4,),
        num_actions=2,
    )
    x = torch.randn(5, 4)
    before = net.q_values(x).detach()
    net.reset_noise()
    net.set_noise_mean(True)
    assert net.noisy_layers() == [] and net.snr_metrics() == {}
    torch.testing.assert_close(net.q_values(x).detach(), before, rtol=0, atol=0)
    assert isinstance(net, QNetwork) and net.kind == "scalar" and not net.distributional
