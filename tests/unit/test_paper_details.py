"""Where implementations differ, each choice against a hand-computed value: DeepMind's RMSProp, the
C51 priority (KL or cross-entropy), PER weight normalisation, the dueling gradient rescaling, and
what each preset picks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rlkit.losses import CategoricalLoss, LearnerNetworks
from rlkit.networks.heads import DuelingHead, QHead
from rlkit.networks.model import QNetwork
from rlkit.networks.outputs import CategoricalKind
from rlkit.optim import RMSpropEpsInSqrt, rmsprop
from rlkit.replay.min_tree import MinTree
from rlkit.replay.samplers import PrioritizedSampler
from rlkit.targets import PlainTarget
from rlkit.types import Batch
from tests.helpers import compose


# ------------------------------------------------------------------------------------------- RMSProp
def _one_step(optimizer_cls, grad: float, **kwargs) -> float:
    param = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = optimizer_cls([param], **kwargs)
    param.grad = torch.tensor([grad], dtype=torch.float64)
    opt.step()
    return 1.0 - param.item()  # the step taken


def test_rmsprop_tf_puts_eps_inside_the_root_centred_and_not():
    g, lr, a, eps = 1e-3, 2.5e-4, 0.95, 0.01
    ms, mg = (1 - a) * g * g, (1 - a) * g  # after one step from zero state
    centred = _one_step(RMSpropEpsInSqrt, g, lr=lr, alpha=a, eps=eps, centered=True)
    assert centred == pytest.approx(lr * g / math.sqrt(ms - mg * mg + eps), rel=1e-12)
    plain = _one_step(RMSpropEpsInSqrt, g, lr=lr, alpha=a, eps=eps, centered=False)
    assert plain == pytest.approx(lr * g / math.sqrt(ms + eps), rel=1e-12)
    # torch's RMSprop adds eps outside the root: ~9.8x larger steps at gradients around 1e-3
    torch_step = _one_step(lambda p, **kw: rmsprop(params=p, **kw), g, lr=lr, alpha=a, eps=eps, centered=True)
    assert torch_step == pytest.approx(lr * g / (math.sqrt(ms - mg * mg) + eps), rel=1e-6)
    assert 9.0 < torch_step / centred < 10.5


def test_rmsprop_tf_momentum_accumulates_steps():
    param = nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = RMSpropEpsInSqrt([param], lr=0.1, alpha=0.5, eps=1.0, momentum=0.9, centered=False)
    expected, buf, ms = 0.0, 0.0, 0.0
    for g in (1.0, -2.0, 0.5):
        param.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        ms = 0.5 * ms + 0.5 * g * g
        buf = 0.9 * buf + 0.1 * g / math.sqrt(ms + 1.0)
        expected -= buf
        assert param.item() == pytest.approx(expected, rel=1e-12)
    assert opt.state_dict()["state"][0]["step"] == 3


def test_rmsprop_tf_rejects_bad_settings():
    with pytest.raises(ValueError, match="eps > 0"):
        RMSpropEpsInSqrt([nn.Parameter(torch.zeros(1))], eps=0.0)


# ------------------------------------------------------------------------------------- C51 priority
def test_c51_priority_kl_is_cross_entropy_less_the_targets_entropy():
    """Terminal transitions: the target is the reward split over its two neighbouring atoms. Support
    [0, 1, 2], reward 0.25 -> target (0.75, 0.25, 0), entropy 0.5623; reward 1 -> one-hot, entropy 0."""
    torch.manual_seed(0)
    head = QHead(in_features=2, num_actions=2, layer=nn.Linear, hidden_sizes=[],
                 output=CategoricalKind(num_atoms=3, v_min=0.0, v_max=2.0))
    net = QNetwork(nn.Flatten(), head)
    batch = Batch(obs=torch.randn(2, 2), actions=torch.tensor([0, 1]), rewards=torch.tensor([0.25, 1.0]),
                  next_obs=torch.randn(2, 2), discounts=torch.zeros(2), weights=torch.ones(2), indices=np.arange(2))
    nets = LearnerNetworks(online=net, target=net, target_rule=PlainTarget())
    ce = CategoricalLoss(priority="cross_entropy")(nets, batch)
    kl = CategoricalLoss(priority="kl")(nets, batch)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy == pytest.approx(0.562335, abs=1e-6)
    torch.testing.assert_close(kl.priorities, ce.priorities - torch.tensor([entropy, 0.0]), atol=1e-6, rtol=0)
    log_p = torch.log_softmax(net(batch.obs).logits, -1)[torch.arange(2), batch.actions].detach()
    assert ce.priorities[1].item() == pytest.approx(-log_p[1, 1].item(), rel=1e-6)  # one-hot target: CE = -log p
    assert kl.loss.item() == pytest.approx(ce.loss.item())  # same loss (and gradient): only priorities differ
    with pytest.raises(ValueError, match="priority"):
        CategoricalLoss(priority="entropy")


# ------------------------------------------------------------------------------------- PER weights
def test_min_tree_tracks_the_smallest_positive_priority():
    rng = np.random.default_rng(0)
    tree, values = MinTree(37), np.zeros(37)
    assert tree.min == math.inf
    for _ in range(200):
        idx = rng.integers(0, 37, size=rng.integers(1, 9))
        new = np.where(rng.random(idx.size) < 0.2, 0.0, rng.random(idx.size))
        tree.update(idx, new)
        for i, v in zip(idx, new):  # the last write of a repeated index wins
            values[i] = v
        positive = values[values > 0]
        assert tree.min == (positive.min() if positive.size else math.inf)
    rebuilt = MinTree(37)
    rebuilt.rebuild(values)
    assert rebuilt.min == tree.min


def _sampler(weight_norm: str) -> PrioritizedSampler:
    sampler = PrioritizedSampler(capacity=4, alpha=1.0, beta_start=0.5, beta_end=0.5, eps=0.0, weight_norm=weight_norm)
    sampler.on_add(np.arange(4))
    sampler.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))  # P = 0.1 .. 0.4
    return sampler


def test_per_weights_normalised_by_the_buffer_or_the_batch_max():
    for norm in ("buffer_max", "batch_max"):
        sampler = _sampler(norm)
        for _ in range(20):
            idx, w = sampler.sample(2, 4)
            raw = (4 * (idx + 1) / 10.0) ** -0.5  # (N P(i))^-beta
            # buffer: over every slot, the largest weight is slot 0's, (4 * 0.1)^-0.5
            expected = raw / (0.4 ** -0.5) if norm == "buffer_max" else raw / raw.max()
            np.testing.assert_allclose(w, expected, rtol=1e-6)
    sampler = _sampler("buffer_max")
    sampler.on_remove(np.array([0]))  # slot 0 can no longer be drawn: slot 1 holds the largest weight now
    idx, w = sampler.sample(3, 4)
    np.testing.assert_allclose(w, (4 * (idx + 1) / 9.0) ** -0.5 / (4 * 2 / 9.0) ** -0.5, rtol=1e-6)
    restored = PrioritizedSampler(capacity=4, alpha=1.0, beta_start=0.5, beta_end=0.5, eps=0.0, weight_norm="buffer_max")
    restored.load_state_dict(sampler.state_dict())
    assert restored._min_tree.min == 2.0  # rebuilt from the saved sum tree


# ------------------------------------------------------------------------------ dueling rescaling
@pytest.mark.parametrize("output", [None, "categorical"])
def test_dueling_torso_gradient_is_rescaled_and_outputs_are_not(output):
    def run(scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        kind = CategoricalKind(num_atoms=51) if output else None
        head = DuelingHead(in_features=5, num_actions=3, layer=nn.Linear, hidden_sizes=[4], torso_grad_scale=scale,
                           output=kind)
        features = torch.randn(2, 5, requires_grad=True)
        out = head(features)
        raw = out.logits if output else out.values
        raw.sum().backward()
        return raw.detach(), features.grad

    out1, grad1 = run(1.0)
    out2, grad2 = run(1 / math.sqrt(2))
    assert torch.equal(out1, out2)
    torch.testing.assert_close(grad2, grad1 / math.sqrt(2), rtol=1e-6, atol=0)


# ------------------------------------------------------------------------------- presets' choices
@pytest.mark.parametrize(("agent", "optim", "eval_mean", "eval_epsilon", "norm", "priority", "grad_scale"), [
    ("dqn", "rmsprop_tf", False, 0.05, None, None, None),
    ("double_dqn", "rmsprop_tf", False, 0.001, None, None, None),
    ("prioritized", "rmsprop_tf", False, 0.001, "buffer_max", None, None),
    ("dueling", "rmsprop_tf", False, 0.001, None, None, 1 / math.sqrt(2)),
    ("noisy", "rmsprop_tf", True, 0.001, None, None, None),
    ("c51", "adam", False, 0.001, None, "kl", None),
    ("rainbow", "adam", True, 0.001, "batch_max", "kl", 1.0),
    ("der", "adam", True, 0.001, "batch_max", "kl", 1.0),
])
def test_each_preset_makes_its_papers_choice_on_atari(agent, optim, eval_mean, eval_epsilon, norm, priority, grad_scale):
    cfg = compose(f"agent={agent}", "env=atari")
    assert cfg.optim.name == optim
    assert cfg.agent.noise.eval_mean is eval_mean and cfg.eval.epsilon == eval_epsilon
    assert cfg.replay.sampler.get("weight_norm") == norm
    assert cfg.loss.get("priority") == priority
    assert cfg.network.head.get("torso_grad_scale") == (pytest.approx(grad_scale) if grad_scale else grad_scale)
    if optim == "rmsprop_tf":
        assert (cfg.optim.eps, cfg.optim.alpha, cfg.optim.centered) == (0.01, 0.95, True)
