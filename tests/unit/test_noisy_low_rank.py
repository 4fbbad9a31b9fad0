"""Factorised noisy layers act through the low-rank product (Fortunato et al. 2018, Sec. 3.2) and build
``weight_epsilon`` [out, in] only when read: acting equals the built-weight forward up to float
rounding, and everything the learner and checkpoints see is bit for bit what eager noise gave."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlkit.networks.layers import FactorisedNoisyLinear, IndependentNoisyLinear, NoiseState
from tests.unit.test_noisy import _gen
from tests.unit.test_noisy import _manual_output as _built_output  # through mu + sigma * weight_epsilon


def _pair(in_features: int, out_features: int, seed: int) -> tuple[FactorisedNoisyLinear, FactorisedNoisyLinear]:
    """Two layers with the same parameters and noise: ``lazy`` as sampled, ``eager`` with
    ``weight_epsilon`` built right after sampling (what every sample did before)."""
    torch.manual_seed(seed)
    lazy = FactorisedNoisyLinear(in_features, out_features)
    with torch.no_grad():
        lazy.weight_sigma.uniform_(0.0, 0.2)  # distinct sigmas: every term of the product matters
        lazy.bias_sigma.uniform_(0.0, 0.2)
    lazy.reset_noise(_gen(seed))
    eager = copy.deepcopy(lazy)
    eager.weight_epsilon  # noqa: B018  (a read builds it)
    assert lazy._weight_stale and not eager._weight_stale
    return lazy, eager


def _low_rank_calls(layer: FactorisedNoisyLinear, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    inner = layer._low_rank_forward
    monkeypatch.setattr(layer, "_low_rank_forward", lambda x: calls.append(1) or inner(x))
    return calls


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize(
    ("in_features", "out_features", "batch"), [(7, 5, 1), (64, 33, 8), (3136, 512, 8), (512, 6, 32)]
)
def test_low_rank_acting_equals_built_weights(device, in_features, out_features, batch, monkeypatch) -> None:
    lazy, _ = _pair(in_features, out_features, seed=in_features + batch)
    lazy.to(device)
    lazy.reset_noise()  # fresh factors on the device
    calls = _low_rank_calls(lazy, monkeypatch)
    x = torch.randn(batch, in_features, device=device)
    with torch.inference_mode():
        fast = lazy(x)
    assert calls == [1] and lazy._weight_stale  # acting built no [out, in] tensor
    with torch.no_grad():
        built = _built_output(lazy, x)
    torch.testing.assert_close(fast, built, rtol=1e-5, atol=1e-5)
    lazy.low_rank_acting = False  # the switch for comparisons: act through the built weights
    with torch.inference_mode():
        torch.testing.assert_close(lazy(x), built, rtol=0, atol=0)
    assert calls == [1]


def test_low_rank_path_only_for_acting(monkeypatch) -> None:
    """Plain no_grad (target / double-DQN selection), autograd and ``use_mean`` keep today's paths."""
    lazy, eager = _pair(6, 4, seed=0)
    calls = _low_rank_calls(lazy, monkeypatch)
    x = torch.randn(3, 6)
    with torch.no_grad():
        torch.testing.assert_close(lazy(x), eager(x), rtol=0, atol=0)
    torch.testing.assert_close(lazy(x), eager(x), rtol=0, atol=0)
    lazy.use_mean = True
    with torch.inference_mode():
        torch.testing.assert_close(lazy(x), F.linear(x, lazy.weight_mu, lazy.bias_mu), rtol=0, atol=0)
    assert calls == []


def test_lazy_noise_is_bit_identical_to_eager_noise() -> None:
    """``weight_epsilon``, ``state_dict()``, ``noisy_weights()`` and ``.double()`` see what an eager
    ``torch.outer`` wrote; the factor buffer is not part of checkpoints."""
    for read in ("attribute", "state_dict", "noisy_weights", "double"):
        lazy, eager = _pair(9, 5, seed=1)
        if read == "attribute":
            got = {"weight_epsilon": lazy.weight_epsilon}
        elif read == "state_dict":
            got = lazy.state_dict()
        elif read == "noisy_weights":
            got = dict(zip(("w", "b"), lazy.noisy_weights(), strict=True))
            eager_got = dict(zip(("w", "b"), eager.noisy_weights(), strict=True))
        else:
            got = lazy.double().state_dict()
            eager.double()
        want = eager_got if read == "noisy_weights" else eager.state_dict()
        for key, value in got.items():
            assert torch.equal(value, want[key]), (read, key)
    lazy, _ = _pair(9, 5, seed=1)
    keys = ["weight_mu", "weight_sigma", "bias_mu", "bias_sigma", "weight_epsilon", "bias_epsilon"]
    assert list(lazy.state_dict()) == keys  # the factor buffer is not checkpointed
    assert torch.equal(lazy.weight_epsilon, torch.outer(lazy.bias_epsilon, lazy.noise_in))


def test_grad_path_gives_identical_gradients() -> None:
    lazy, eager = _pair(12, 7, seed=2)
    x = torch.randn(5, 12)
    outs = []
    for layer in (lazy, eager):
        out = layer(x)
        out.square().sum().backward()
        outs.append(out.detach())
    assert torch.equal(outs[0], outs[1])
    for (name, a), b in zip(lazy.named_parameters(), eager.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name


def test_deepcopy_and_load_state_dict_keep_the_sample() -> None:
    lazy, eager = _pair(6, 4, seed=3)
    x = torch.randn(2, 6)
    clone = copy.deepcopy(lazy)  # still factored: the copy builds the same weights
    assert torch.equal(clone.weight_epsilon, eager.weight_epsilon)
    other = FactorisedNoisyLinear(6, 4)
    other.load_state_dict(lazy.state_dict())  # e.g. a target sync: the loaded [out, in] sample is used
    assert not other._factored
    with torch.inference_mode():
        torch.testing.assert_close(other(x), _built_output(eager, x), rtol=0, atol=0)
    independent = IndependentNoisyLinear(6, 4)  # any [out, in] tensor loads, and acting uses it as it is
    independent.reset_noise(_gen(5))
    other.load_state_dict(independent.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(other(x), _built_output(independent, x), rtol=0, atol=0)


def test_restore_and_noise_state_round_trips(monkeypatch) -> None:
    lazy, eager = _pair(8, 3, seed=4)
    x = torch.randn(4, 8)
    state = lazy.noise_state()
    assert state.weight_epsilon is None and lazy._weight_stale  # saving copies only the factors
    lazy.reset_noise()
    lazy.load_noise_state(state)
    assert lazy._factored and lazy._weight_stale
    assert torch.equal(lazy.weight_epsilon, eager.weight_epsilon)
    assert torch.equal(lazy.bias_epsilon, eager.bias_epsilon)
    # restore_noise takes any [out, in] tensor: the layer drops its factors and acts through it
    full = torch.randn(3, 8, generator=_gen(9))
    lazy.restore_noise(full, eager.bias_epsilon)
    calls = _low_rank_calls(lazy, monkeypatch)
    with torch.inference_mode():
        got = lazy(x)
    assert calls == [] and torch.equal(lazy.weight_epsilon, full)
    torch.testing.assert_close(got, _built_output(lazy, x), rtol=0, atol=0)
    saved = lazy.noise_state()  # an unfactored sample is saved in full
    assert saved.noise_in is None and torch.equal(saved.weight_epsilon, full)
    lazy.reset_noise()  # a fresh sample is factored again
    with torch.inference_mode():
        lazy(x)
    assert calls == [1]
    independent = IndependentNoisyLinear(8, 3)
    kept = independent.noise_state()
    independent.reset_noise()
    independent.load_noise_state(kept)
    assert torch.equal(independent.weight_epsilon, kept.weight_epsilon)
    with pytest.raises(ValueError, match="weight_epsilon"):
        independent.load_noise_state(NoiseState(bias_epsilon=kept.bias_epsilon, noise_in=torch.zeros(8)))


def test_evaluating_keeps_the_training_noise(monkeypatch) -> None:
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from tests.helpers import compose

    agent = build_parts(compose("agent=rainbow", "torch_threads=1"), torch.device("cpu")).agent
    layers = [layer for _, layer in agent.online.noisy_layers()]
    obs = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    agent.act(obs, 0)
    before = {k: v.clone() for k, v in agent.online.state_dict().items()}
    factors = [layer.noise_in.clone() for layer in layers]
    with agent.evaluating(seed=7):
        for _ in range(3):
            agent.act_eval(obs, 0.0)
    assert all(layer._factored for layer in layers)  # still acting through the factors
    for layer, noise_in in zip(layers, factors, strict=True):
        assert torch.equal(layer.noise_in, noise_in)
    for key, value in agent.online.state_dict().items():
        assert torch.equal(value, before[key]), key
