"""Quantile heads and losses (QR-DQN, IQN) and Munchausen targets inside the losses, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rlkit.networks  # noqa: F401  (registers components)
from rlkit.losses import LearnerNetworks, QuantileHuberLoss, TDLoss, quantile_huber
from rlkit.networks.heads import DuelingHead, QHead
from rlkit.networks.model import QNetwork
from rlkit.networks.outputs import ImplicitQuantileKind, QuantileKind, QuantileValues
from rlkit.targets import DoubleTarget, MunchausenTarget, PlainTarget
from rlkit.types import Batch


# -------------------------------------------------------------------------------- quantile Huber loss
@pytest.mark.parametrize(("targets", "kappa", "expected"), [
    # theta = (0, 2) at tau = (0.25, 0.75). One target 1: u = (1, -1), weights |tau - 1{u<0}| = (0.25, 0.25),
    # Huber(1) / kappa = 0.5 -> 0.125 + 0.125
    ([1.0], 1.0, 0.25),
    # kappa 0.5: Huber_0.5(1) = 0.5 (1 - 0.25) = 0.375, / 0.5 = 0.75 -> 0.25 * 0.75 * 2
    ([1.0], 0.5, 0.375),
    # targets (1, 3): i = 0: u = (1, 3), w 0.25, Huber (0.5, 2.5) -> mean 0.375; i = 1: u = (-1, 1),
    # w (0.25, 0.75), Huber 0.5 -> mean 0.25; sum over i = 0.625
    ([1.0, 3.0], 1.0, 0.625),
    # kappa 0: pinball |tau - 1{u<0}| |u|: i = 0: 0.25 * (1 + 3) / 2 = 0.5; i = 1: (0.25 + 0.75) / 2 = 0.5
    ([1.0, 3.0], 0.0, 1.0),
])  # fmt: skip
def test_quantile_huber_hand_computed(targets, kappa, expected):
    online = torch.tensor([[0.0, 2.0]], requires_grad=True)
    loss = quantile_huber(online, torch.tensor([[0.25, 0.75]]), torch.tensor([targets]), kappa)
    assert loss.shape == (1,) and loss.item() == pytest.approx(expected)
    if targets == [1.0, 3.0] and kappa == 1.0:
        loss.sum().backward()  # d/d theta_i = -mean_j w_ij clip(u_ij, -1, 1): i=0: -0.25; i=1: -(-0.25 + 0.75) / 2
        assert online.grad[0].tolist() == pytest.approx([-0.25, -0.25])


def test_pinball_loss_minimiser_is_the_quantile():
    """Dabney et al. 2018a, Lemma 2: minimising the quantile loss puts theta_i at the tau_i-quantile."""
    samples = torch.arange(1, 101, dtype=torch.float32).view(1, 100)  # 1..100
    taus = torch.tensor([[0.125, 0.375, 0.625, 0.875]])
    theta = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.5)
    for _ in range(2000):
        opt.zero_grad()
        quantile_huber(theta, taus, samples, kappa=0.0).sum().backward()
        opt.step()
    assert theta.detach()[0].tolist() == pytest.approx([13.0, 38.0, 63.0, 88.0], abs=1.0)


def _quantile_net(kind: nn.Module, *, seed: int, dueling: bool = False) -> QNetwork:
    torch.manual_seed(seed)
    head_cls = DuelingHead if dueling else QHead
    return QNetwork(nn.Flatten(), head_cls(in_features=3, num_actions=2, layer=nn.Linear, hidden_sizes=[8], output=kind))


def _batch(size: int = 5) -> Batch:
    g = torch.Generator().manual_seed(7)
    return Batch(obs=torch.randn(size, 3, generator=g), actions=torch.tensor([0, 1, 1, 0, 1][:size]),
                 rewards=torch.tensor([0.5, -1.0, 0.0, 2.0, 1.0][:size]), next_obs=torch.randn(size, 3, generator=g),
                 discounts=torch.tensor([0.9, 0.0, 0.9, 0.81, 0.9][:size]),
                 weights=torch.tensor([1.0, 0.5, 2.0, 1.0, 0.25][:size]), indices=np.arange(size))


def test_qr_loss_matches_a_brute_force_sum():
    online, target = _quantile_net(QuantileKind(num_quantiles=4), seed=0), _quantile_net(QuantileKind(num_quantiles=4), seed=1)
    batch = _batch()
    out = QuantileHuberLoss(kappa=1.0)(LearnerNetworks(online=online, target=target, target_rule=PlainTarget()), batch)
    taus = [0.125, 0.375, 0.625, 0.875]
    with torch.no_grad():
        theta = online(batch.obs).quantiles  # [B, A, N]
        theta_next = target(batch.next_obs).quantiles
    expected = []
    for b in range(5):
        a_next = int(theta_next[b].mean(-1).argmax())
        z = [batch.rewards[b].item() + batch.discounts[b].item() * theta_next[b, a_next, j].item() for j in range(4)]
        total = 0.0
        for i in range(4):
            th = theta[b, batch.actions[b], i].item()
            for zj in z:
                u = zj - th
                huber = 0.5 * u * u if abs(u) <= 1 else abs(u) - 0.5
                total += abs(taus[i] - (u < 0)) * huber / 4  # mean over the 4 target samples
        expected.append(total)
    assert out.priorities.tolist() == pytest.approx(expected, rel=1e-5)
    assert out.loss.item() == pytest.approx(float(np.mean(np.array(expected) * batch.weights.numpy())), rel=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in online.parameters()) and all(p.grad is None for p in target.parameters())


def test_quantile_loss_refuses_other_outputs():
    scalar = QNetwork(nn.Flatten(), QHead(in_features=3, num_actions=2, layer=nn.Linear, hidden_sizes=[4]))
    with pytest.raises(ValueError, match="quantile head outputs, got a scalar one"):
        QuantileHuberLoss()(LearnerNetworks(online=scalar, target=scalar, target_rule=PlainTarget()), _batch())
    with pytest.raises(ValueError, match="kappa"):
        QuantileHuberLoss(kappa=-1.0)


# ------------------------------------------------------------------------------------------- heads
def test_qr_head_fixed_midpoints_and_mean_q():
    head = QHead(in_features=3, num_actions=2, layer=nn.Linear, hidden_sizes=[], output=QuantileKind(num_quantiles=4))
    out = head(torch.randn(6, 3))
    assert isinstance(out, QuantileValues) and out.quantiles.shape == (6, 2, 4)
    assert out.taus.shape == (6, 4) and out.taus[0].tolist() == [0.125, 0.375, 0.625, 0.875]
    torch.testing.assert_close(out.q_values, out.quantiles.mean(-1))
    assert "output.taus" not in head.state_dict()  # derived, not saved


def test_iqn_embedding_hand_computed():
    """phi(tau) = ReLU(W cos(pi i tau) + b), i = 1..3; W rows (1, 0, 0) and (0, -1, 0), b = 0.
    tau = 0.5: cos = (0, -1, 0) -> phi = (0, 1); tau = 0: cos = (1, 1, 1) -> phi = (1, 0).
    Features (3, 5) -> rows (0, 5) and (3, 0)."""
    kind = ImplicitQuantileKind(in_features=2, embedding_dim=3)
    with torch.no_grad():
        kind.embedding.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
        kind.embedding.bias.zero_()
    rows = kind.embed(torch.tensor([[3.0, 5.0]]), torch.tensor([[0.5, 0.0]]))
    torch.testing.assert_close(rows, torch.tensor([[0.0, 5.0], [3.0, 0.0]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dueling", [False, True])
def test_iqn_draws_per_role_counts_from_the_given_generator(dueling):
    kind = ImplicitQuantileKind(in_features=3, embedding_dim=8, num_samples_online=6, num_samples_target=5,
                                num_samples_act=4)
    net = _quantile_net(kind, seed=0, dueling=dueling)
    obs = torch.randn(2, 3)
    for role, count in (("act", 4), ("select", 4), ("online", 6), ("target", 5)):
        out = net(obs, role, torch.Generator().manual_seed(1))
        assert out.quantiles.shape == (2, 2, count) and out.taus.shape == (2, count)
        assert bool(((out.taus > 0) & (out.taus < 1)).all())
    a = net(obs, "online", torch.Generator().manual_seed(3))
    b = net(obs, "online", torch.Generator().manual_seed(3))
    assert torch.equal(a.taus, b.taus) and torch.equal(a.quantiles, b.quantiles)
    assert not torch.equal(a.taus, net(obs, "online", torch.Generator().manual_seed(4)).taus)


def test_iqn_quantiles_follow_their_fractions():
    """Row (b, t) of the streams is the quantile at taus[b, t]: recompute one by hand."""
    kind = ImplicitQuantileKind(in_features=3, embedding_dim=8)
    net = _quantile_net(kind, seed=0)
    obs = torch.randn(2, 3)
    out = net(obs, "act", torch.Generator().manual_seed(0))
    tau = out.taus[1, 5]
    phi = F.relu(kind.embedding(torch.cos(math.pi * torch.arange(1, 9) * tau)))
    expected = net.head.net(obs[1] * phi)  # [A]
    torch.testing.assert_close(out.quantiles[1, :, 5], expected)


def test_dueling_quantiles_combine_per_fraction():
    net = _quantile_net(QuantileKind(num_quantiles=3), seed=0, dueling=True)
    x = torch.randn(4, 3)
    out = net(x)
    value = net.head.value(x).view(4, 1, 3)
    advantage = net.head.advantage(x).view(4, 2, 3)
    torch.testing.assert_close(out.quantiles, value + advantage - advantage.mean(1, keepdim=True))


# ---------------------------------------------------------------------------- Munchausen in the losses
def test_m_dqn_td_target_by_hand():
    """TD loss with the Munchausen rule on a table network: y = r + alpha clip(tau log pi(a|s), l0, 0)
    + discount * tau logsumexp(q(s') / tau), computed here from the target table directly."""
    table = torch.tensor([[1.0, 2.0], [0.0, 0.5], [3.0, -1.0]])  # Q_target(s, a) for one-hot s
    head = QHead(in_features=3, num_actions=2, layer=nn.Linear, hidden_sizes=[])
    with torch.no_grad():
        head.net[0].weight.copy_(table.T)
        head.net[0].bias.zero_()
    target = QNetwork(nn.Flatten(), head)
    online = QNetwork(nn.Flatten(), QHead(in_features=3, num_actions=2, layer=nn.Linear, hidden_sizes=[]))
    with torch.no_grad():
        online.head.net[0].weight.zero_()
        online.head.net[0].bias.zero_()  # Q_online = 0: td = y
    batch = Batch(obs=F.one_hot(torch.tensor([0, 2]), 3).float(), actions=torch.tensor([0, 1]),
                  rewards=torch.tensor([1.0, 0.0]), next_obs=F.one_hot(torch.tensor([1, 0]), 3).float(),
                  discounts=torch.tensor([0.9, 0.0]), weights=torch.ones(2), indices=np.arange(2))
    tau, alpha = 0.3, 0.9
    nets = LearnerNetworks(online=online, target=target, target_rule=MunchausenTarget(alpha=alpha, tau=tau, l0=-1.0))
    out = TDLoss(kind="mse")(nets, batch)

    def tau_log_pi(q: list[float], a: int) -> float:
        return q[a] - tau * math.log(sum(math.exp(x / tau) for x in q))

    soft = tau * math.log(math.exp(0.0 / tau) + math.exp(0.5 / tau))  # s' = 1
    y0 = 1.0 + alpha * max(-1.0, min(0.0, tau_log_pi([1.0, 2.0], 0))) + 0.9 * soft
    y1 = 0.0 + alpha * max(-1.0, min(0.0, tau_log_pi([3.0, -1.0], 1)))  # terminal
    assert tau_log_pi([1.0, 2.0], 0) == pytest.approx(-1.0 - tau * math.log(1 + math.exp(-1 / tau)))
    assert out.priorities.tolist() == pytest.approx([abs(y0), abs(y1)], rel=1e-5)
    assert out.loss.item() == pytest.approx((y0**2 + y1**2) / 2, rel=1e-5)


@pytest.mark.parametrize("rule", [PlainTarget(), DoubleTarget(), MunchausenTarget()])
@pytest.mark.parametrize("kind", ["quantile", "implicit_quantile"])
def test_quantile_loss_trains_with_every_rule(rule, kind):
    make = (lambda: QuantileKind(num_quantiles=5)) if kind == "quantile" else (
        lambda: ImplicitQuantileKind(in_features=3, embedding_dim=4, num_samples_online=3, num_samples_target=4,
                                     num_samples_act=2))
    online, target = _quantile_net(make(), seed=0), _quantile_net(make(), seed=1)
    nets = LearnerNetworks(online=online, target=target, target_rule=rule, generator=torch.Generator().manual_seed(0))
    out = QuantileHuberLoss()(nets, _batch())
    assert torch.isfinite(out.loss) and out.priorities.shape == (5,) and bool((out.priorities >= 0).all())
    out.loss.backward()
    assert all(p.grad is not None for p in online.parameters())
