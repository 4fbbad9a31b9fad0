"""``network.torso.channels_last``: the conv torsos in NHWC memory order compute the same network."""

from __future__ import annotations

import copy

import pytest
import torch

from rlkit.networks.torsos import DataEfficientCNN, NatureCNN
from tests.helpers import compose

TORSOS = [(NatureCNN, {}), (NatureCNN, {"padding": "same", "init": "xavier_uniform"}), (DataEfficientCNN, {})]
IDS = ["nature", "nature_same", "der"]


def _obs(batch: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _is_nhwc(torso: torch.nn.Module) -> bool:
    weights = [m.weight for m in torso.modules() if isinstance(m, torch.nn.Conv2d)]
    return all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in weights)


@pytest.mark.parametrize(("cls", "kwargs"), TORSOS, ids=IDS)
def test_nhwc_and_nchw_torsos_with_the_same_weights_give_the_same_features_and_gradients(cls, kwargs):
    torch.manual_seed(0)
    nhwc = cls(obs_shape=(4, 84, 84), **kwargs)
    nchw = cls(obs_shape=(4, 84, 84), channels_last=False, **kwargs)
    nchw.load_state_dict(nhwc.state_dict())
    assert _is_nhwc(nhwc) and not _is_nhwc(nchw) and nhwc.out_features == nchw.out_features
    obs = _obs()
    a, b = nhwc(obs), nchw(obs)
    assert a.shape == b.shape == (5, nhwc.out_features) and a.is_contiguous()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # also the C, H, W order of the flattened features
    assert (a - b).abs().max() > 0 or cls is DataEfficientCNN  # a different summation order, not the same kernel
    (a.square().sum()).backward()
    (b.square().sum()).backward()
    for (name, p), q in zip(nhwc.named_parameters(), nchw.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4, msg=name)
    # acting: one uint8 observation at a time
    torch.testing.assert_close(nhwc(obs[:1]), nchw(obs[:1]), rtol=1e-5, atol=1e-5)


def test_the_layout_survives_copies_moves_and_loads_and_states_load_either_way():
    torch.manual_seed(1)
    nhwc = NatureCNN(obs_shape=(4, 84, 84))
    assert _is_nhwc(copy.deepcopy(nhwc)) and _is_nhwc(nhwc.to("cpu"))  # target network copies, device moves
    nchw = NatureCNN(obs_shape=(4, 84, 84), channels_last=False)
    saved = nchw.state_dict()  # e.g. a checkpoint from before channels_last
    nhwc.load_state_dict(saved)
    assert _is_nhwc(nhwc)
    assert all(torch.equal(x, y) for x, y in zip(nhwc.state_dict().values(), saved.values()))
    back = NatureCNN(obs_shape=(4, 84, 84), channels_last=False)
    back.load_state_dict(nhwc.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(back.state_dict().values(), saved.values()))


def test_agents_learn_the_same_with_either_layout():
    """A DQN agent on Atari-shaped input: 5 updates from the same weights and batches, NHWC vs NCHW torso."""
    import rlkit.components  # noqa: F401
    from rlkit import registry
    from rlkit.training.builder import build_agent
    from rlkit.types import Batch

    agents = []
    for layout in ("true", "false"):
        cfg = compose("env=atari", "env.game=pong", "agent=dqn", "torch_threads=1",
                      f"+network.torso.channels_last={layout}")
        torch.manual_seed(0)
        agents.append(build_agent(cfg, registry.build("env", cfg.env), torch.device("cpu")))
    nhwc, nchw = agents
    assert nhwc.online.torso.channels_last and not nchw.online.torso.channels_last
    assert _is_nhwc(nhwc.online.torso) and _is_nhwc(nhwc.target.torso)
    nchw.online.load_state_dict(nhwc.online.state_dict())
    nchw.target.load_state_dict(nhwc.target.state_dict())
    initial = [p.detach().clone() for p in nhwc.online.parameters()]
    g = torch.Generator().manual_seed(2)
    for step in range(5):
        batch = Batch(obs=_obs(32, 10 + step), actions=torch.randint(0, 6, (32,), generator=g),
                      rewards=torch.randn(32, generator=g), next_obs=_obs(32, 20 + step),
                      discounts=torch.full((32,), 0.99), weights=torch.ones(32), indices=torch.arange(32).numpy())
        nhwc.update(copy.deepcopy(batch))
        nchw.update(batch)
    apart = max((p - q).abs().max() for p, q in zip(nhwc.online.parameters(), nchw.online.parameters()))
    moved = max((p - q).abs().max() for p, q in zip(nhwc.online.parameters(), initial))
    print(f"max difference between the layouts {apart:.2e}, max move {moved:.2e}")
    assert moved > 100 * apart and moved > 1e-4  # the updates moved the weights; the layouts agree far closer
