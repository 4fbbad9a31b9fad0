"""``network.torso.compute_dtype=bfloat16``: the conv torsos' convolutions in bfloat16, everything around them float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.networks.torsos import DataEfficientCNN, NatureCNN
from rlkit.types import Batch
from tests.helpers import compose

TORSOS = [(NatureCNN, {}), (NatureCNN, {"channels_last": False}), (DataEfficientCNN, {})]
IDS = ["nature", "nature_nchw", "der"]


def _obs(batch: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("cls", "kwargs"), TORSOS, ids=IDS)
def test_bfloat16_convolutions_give_float32_features_and_gradients_near_float32s(cls, kwargs):
    torch.manual_seed(0)
    full = cls(obs_shape=(4, 84, 84), **kwargs)
    half = cls(obs_shape=(4, 84, 84), compute_dtype="bfloat16", **kwargs)
    half.load_state_dict(full.state_dict())
    obs = _obs()
    a, b = full(obs), half(obs)
    assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
    assert all(p.dtype == torch.float32 for p in half.parameters())  # the weights stay float32
    error = (b - a).abs().max() / a.abs().max()
    assert 0 < error < 0.05  # bfloat16's 8-bit mantissa through the convolutions: close, not equal
    a.square().sum().backward()
    b.square().sum().backward()
    for (name, p), q in zip(full.named_parameters(), half.parameters(), strict=True):
        assert q.grad is not None and q.grad.dtype == torch.float32, name
        cosine = torch.nn.functional.cosine_similarity(p.grad.flatten(), q.grad.flatten(), dim=0)
        assert cosine > 0.99, (name, float(cosine))


def test_the_setting_reaches_the_torso_and_an_agent_updates_with_it():
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    cfg = compose("torch_threads=1", "env=atari", "env.game=pong", "agent=dqn", "+network.torso.compute_dtype=bfloat16")
    agent = build_parts(cfg, torch.device("cpu")).agent
    assert agent.online.torso.compute_dtype == agent.target.torso.compute_dtype == "bfloat16"
    obs = _obs(32)
    q = agent.online.q_values(obs)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    batch = Batch(obs=obs, actions=torch.randint(0, 6, (32,)), rewards=torch.ones(32), next_obs=obs.roll(1, 0),
                  discounts=torch.full((32,), 0.99), weights=torch.ones(32), indices=np.arange(32))
    before = [p.detach().clone() for p in agent.online.parameters()]
    for _ in range(3):
        out = agent.update(batch)
    assert np.isfinite(out.metrics["losses/td_loss"]) and agent.updates == 3
    assert all(not torch.equal(b, p) for b, p in zip(before, agent.online.parameters(), strict=True))


def test_an_unknown_compute_dtype_is_refused():
    with pytest.raises(ValueError, match="compute_dtype must be 'float32' or 'bfloat16', got 'float16'"):
        NatureCNN(obs_shape=(4, 84, 84), compute_dtype="float16")
