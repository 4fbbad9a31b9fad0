"""TD and categorical losses, the C51 projection and the noise-resampling order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rlkit.networks  # noqa: F401  (registers components)
from rlkit.losses import CategoricalLoss, LearnerNetworks, TDLoss, project_distribution
from rlkit.networks.heads import QHead
from rlkit.networks.model import QNetwork, build_network
from rlkit.networks.noise import NoiseControl
from rlkit.networks.outputs import CategoricalKind
from rlkit.registry import build
from rlkit.targets import DoubleTarget, PlainTarget
from rlkit.types import Batch


def _run(loss, *, online, target, batch, target_rule, resample: bool = False):
    """One loss call with the networks' passes as the agent makes them."""
    nets = LearnerNetworks(online=online, target=target, target_rule=target_rule,
                           noise=NoiseControl(resample_on_update=resample))
    return loss(nets, batch)


def _floats(out):
    """The loss output's metrics as the agent reports them (the loss value as losses/td_loss)."""
    return {"losses/td_loss": out.loss.item(), **{k: float(v) for k, v in out.metrics.items()}}

# -- C51 projection ------------------------------------------------------------------------------


def _project_reference(next_probs, rewards, discounts, support) -> torch.Tensor:
    """Bellemare et al. 2017, Algorithm 1, one sample and one atom at a time."""
    p, r, d, z = (t.double().tolist() for t in (next_probs, rewards, discounts, support))
    n = len(z)
    v_min, v_max = z[0], z[-1]
    dz = (v_max - v_min) / (n - 1)
    out = np.zeros((len(p), n))
    for b in range(len(p)):
        for j in range(n):
            tz = min(max(r[b] + d[b] * z[j], v_min), v_max)
            pos = (tz - v_min) / dz
            lo, hi = math.floor(pos), math.ceil(pos)
            if lo == hi:
                out[b, lo] += p[b][j]
            else:
                out[b, lo] += p[b][j] * (hi - pos)
                out[b, hi] += p[b][j] * (pos - lo)
    return torch.from_numpy(out)


def test_projection_hand_computed() -> None:
    support = torch.tensor([0.0, 1.0, 2.0])
    probs = torch.tensor([[0.2, 0.5, 0.3]])
    out = project_distribution(probs, torch.tensor([0.5]), torch.tensor([1.0]), support)
    # Tz = [0.5, 1.5, 2.5 -> 2]: 0.2 split 0.1/0.1, 0.5 split 0.25/0.25, 0.3 on atom 2
    torch.testing.assert_close(out, torch.tensor([[0.1, 0.35, 0.55]]))


@pytest.mark.parametrize(("num_atoms", "v_min", "v_max"), [(51, -10.0, 10.0), (7, -1.0, 2.0), (2, 0.0, 1.0)])
def test_projection_matches_brute_force(num_atoms: int, v_min: float, v_max: float) -> None:
    g = torch.Generator().manual_seed(0)
    batch = 64
    support = torch.linspace(v_min, v_max, num_atoms)
    probs = torch.softmax(3 * torch.randn(batch, num_atoms, generator=g), dim=-1)
    rewards = (v_max - v_min) * 1.5 * (torch.rand(batch, generator=g) - 0.5)  # some far outside
    rewards[:4] = torch.tensor([100.0, -100.0, v_max + 1, v_min - 1])
    discounts = torch.full((batch,), 0.99)
    discounts[::5] = 0.0  # terminal: all mass at clamp(r)
    discounts[1::7] = 0.99**3
    out = project_distribution(probs, rewards, discounts, support)
    torch.testing.assert_close(out.double(), _project_reference(probs, rewards, discounts, support), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.sum(-1), torch.ones(batch))
    assert out.min().item() >= 0
    # targets beyond the support collapse onto the edge atoms
    assert out[0, -1].item() == pytest.approx(1.0) and out[1, 0].item() == pytest.approx(1.0)


def test_projection_exact_integer_positions_keep_mass() -> None:
    support = torch.linspace(-10, 10, 21)  # delta_z = 1
    probs = torch.softmax(torch.randn(3, 21, generator=torch.Generator().manual_seed(1)), -1)
    rewards = torch.tensor([1.0, 0.0, -3.0])
    discounts = torch.tensor([1.0, 1.0, 0.0])
    out = project_distribution(probs, rewards, discounts, support)
    torch.testing.assert_close(out.double(), _project_reference(probs, rewards, discounts, support), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.sum(-1), torch.ones(3))
    # identity (r=0, gamma=1) leaves the distribution unchanged
    torch.testing.assert_close(out[1], probs[1])
    # shift by exactly one atom: atoms move by one, the top two merge at v_max
    torch.testing.assert_close(out[0, 1:-1], probs[0, :-2])
    assert out[0, 0].item() == 0.0
    assert out[0, -1].item() == pytest.approx((probs[0, -2] + probs[0, -1]).item())
    # gamma = 0: everything on the atom at r = -3
    expected = torch.zeros(21)
    expected[7] = 1.0
    torch.testing.assert_close(out[2], expected)


def test_projection_all_discounts_zero_is_one_hot_split() -> None:
    support = torch.linspace(-1, 1, 5)  # atoms -1, -0.5, 0, 0.5, 1
    probs = torch.full((2, 5), 0.2)
    out = project_distribution(probs, torch.tensor([0.25, -0.9]), torch.zeros(2), support)
    torch.testing.assert_close(out, torch.tensor([[0, 0, 0.5, 0.5, 0], [0.8, 0.2, 0, 0, 0]]))


# -- TD loss with hand-computed tables ------------------------------------------------------------


def _table_net(table: list[list[float]]) -> QNetwork:
    """Q(s, a) = table[s][a] for one-hot observations: a linear head with no hidden layer."""
    t = torch.tensor(table)  # [S, A]
    head = QHead(in_features=t.shape[0], num_actions=t.shape[1], layer=nn.Linear, hidden_sizes=[])
    with torch.no_grad():
        head.net[0].weight.copy_(t.T)
        head.net[0].bias.zero_()
    return QNetwork(nn.Flatten(), head)


def _one_hot(states: list[int], n: int = 3) -> torch.Tensor:
    return F.one_hot(torch.tensor(states), n).float()


ONLINE_TABLE = [[2.0, 0.0, 0.0], [1.0, 5.0, 2.0], [0.0, -3.0, 0.0]]
TARGET_TABLE = [[0.0, 0.0, 0.0], [4.0, 0.0, 3.0], [0.0, 0.0, 0.0]]


def _table_batch() -> Batch:
    # sample 0: s=0, a=0, r=1, gamma=0.9, s'=1, w=0.5;  sample 1: s=2, a=1, r=-1, terminal, w=2
    return Batch(
        obs=_one_hot([0, 2]),
        actions=torch.tensor([0, 1]),
        rewards=torch.tensor([1.0, -1.0]),
        next_obs=_one_hot([1, 1]),
        discounts=torch.tensor([0.9, 0.0]),
        weights=torch.tensor([0.5, 2.0]),
        indices=np.array([10, 11]),
    )


@pytest.mark.parametrize(
    ("rule", "kind", "delta", "loss", "td_abs"),
    [
        # double: a' = argmax online(s'=1) = 1, Q_target(1, 1) = 0 -> y = [1, -1], q = [2, -3], td = [-1, 2]
        (DoubleTarget(), "huber", 1.0, (0.5 * 0.5 + 2.0 * 1.5) / 2, [1.0, 2.0]),
        (DoubleTarget(), "huber", 2.0, (0.5 * 0.5 + 2.0 * 2.0) / 2, [1.0, 2.0]),
        (DoubleTarget(), "mse", 1.0, (0.5 * 1.0 + 2.0 * 4.0) / 2, [1.0, 2.0]),
        # plain: a' = argmax target(s'=1) = 0, max = 4 -> y = [4.6, -1], td = [2.6, 2]
        (PlainTarget(), "huber", 1.0, (0.5 * 2.1 + 2.0 * 1.5) / 2, [2.6, 2.0]),
        (PlainTarget(), "mse", 1.0, (0.5 * 2.6**2 + 2.0 * 4.0) / 2, [2.6, 2.0]),
    ],
)
def test_td_loss_hand_computed(rule, kind: str, delta: float, loss: float, td_abs: list[float]) -> None:
    online, target = _table_net(ONLINE_TABLE), _table_net(TARGET_TABLE)
    out = _run(build("loss", {"name": "td", "kind": kind, "huber_delta": delta}),
               online=online, target=target, batch=_table_batch(), target_rule=rule)
    metrics = _floats(out)
    assert out.loss.item() == pytest.approx(loss, rel=1e-6)
    assert out.priorities.tolist() == pytest.approx(td_abs, rel=1e-6)
    assert not out.priorities.requires_grad
    assert metrics["losses/td_loss"] == pytest.approx(loss, rel=1e-6)
    assert metrics["losses/q_values"] == pytest.approx(-0.5)
    assert metrics["losses/td_error_abs"] == pytest.approx(sum(td_abs) / 2, rel=1e-6)
    out.loss.backward()
    # gradient only on the taken entries: dL/dQ(s,a) = -w * l'(td) / B
    grad = online.head.net[0].weight.grad.T  # [S, A]
    assert target.head.net[0].weight.grad is None
    nonzero = {tuple(ix) for ix in grad.nonzero().tolist()}
    assert nonzero == {(0, 0), (2, 1)}
    clip = lambda x: max(-delta, min(delta, x)) if kind == "huber" else 2 * x
    td = [-1.0, 2.0] if isinstance(rule, DoubleTarget) else [2.6, 2.0]
    assert grad[0, 0].item() == pytest.approx(-0.5 * clip(td[0]) / 2, rel=1e-6)
    assert grad[2, 1].item() == pytest.approx(-2.0 * clip(td[1]) / 2, rel=1e-6)


def test_td_loss_rejects_distributional_head_and_bad_kind() -> None:
    net = build_network(
        torso_cfg={"name": "mlp", "hidden_sizes": [8]},
        head_cfg={"name": "q", "hidden_sizes": [8], "output": {"name": "categorical", "num_atoms": 5}},
        layer_cfg={"name": "linear"},
        obs_shape=(3,),
        num_actions=3,
    )
    with pytest.raises(ValueError, match="scalar head outputs, got a categorical one"):
        _run(TDLoss(), online=net, target=net, batch=_table_batch(), target_rule=PlainTarget())
    with pytest.raises(ValueError, match="kind"):
        TDLoss(kind="l1")  # type: ignore[arg-type]


def test_categorical_loss_rejects_scalar_head() -> None:
    net = _table_net(ONLINE_TABLE)
    with pytest.raises(ValueError, match="categorical head outputs, got a scalar one"):
        _run(CategoricalLoss(), online=net, target=net, batch=_table_batch(), target_rule=PlainTarget())


# -- categorical loss -----------------------------------------------------------------------------


def _c51_net(seed: int, num_atoms: int = 11) -> QNetwork:
    torch.manual_seed(seed)
    head = QHead(in_features=3, num_actions=3, layer=nn.Linear, hidden_sizes=[8],
                 output=CategoricalKind(num_atoms=num_atoms, v_min=-2.0, v_max=2.0))
    return QNetwork(nn.Flatten(), head)


@pytest.mark.parametrize("rule", [PlainTarget(), DoubleTarget()], ids=["plain", "double"])
def test_categorical_loss_matches_manual_cross_entropy(rule) -> None:
    online, target = _c51_net(0), _c51_net(1)
    g = torch.Generator().manual_seed(2)
    batch = Batch(
        obs=torch.randn(6, 3, generator=g),
        actions=torch.tensor([0, 1, 2, 2, 1, 0]),
        rewards=torch.tensor([0.3, -1.0, 0.0, 2.5, 0.7, -0.2]),
        next_obs=torch.randn(6, 3, generator=g),
        discounts=torch.tensor([0.99, 0.0, 0.9, 0.99, 0.5, 0.99]),
        weights=torch.tensor([1.0, 0.5, 2.0, 1.0, 0.1, 1.5]),
        indices=np.arange(6),
    )
    out = _run(CategoricalLoss(priority="cross_entropy"), online=online, target=target, batch=batch, target_rule=rule)

    with torch.no_grad():
        support = target.head.output.support
        next_logits = target(batch.next_obs).logits  # [B, A, N]
        selector = online if isinstance(rule, DoubleTarget) else target
        next_q = (torch.softmax(selector(batch.next_obs).logits, -1) * support).sum(-1)  # [B, A]
        next_actions = next_q.argmax(1)
        next_probs = torch.softmax(next_logits[torch.arange(6), next_actions], -1)
        projected = _project_reference(next_probs, batch.rewards, batch.discounts, support).float()
        log_p = torch.log_softmax(online(batch.obs).logits, -1)[torch.arange(6), batch.actions]  # [B, N]
        ce = -(projected * log_p).sum(-1)
    torch.testing.assert_close(out.priorities, ce, atol=1e-5, rtol=1e-5)
    assert out.loss.item() == pytest.approx((batch.weights * ce).mean().item(), rel=1e-5)
    expected_q = (log_p.exp() * support).sum(-1).mean().item()
    assert _floats(out)["losses/q_values"] == pytest.approx(expected_q, rel=1e-5, abs=1e-6)
    assert not out.priorities.requires_grad and bool((out.priorities > 0).all())
    out.loss.backward()
    assert all(p.grad is not None for p in online.parameters())
    assert all(p.grad is None for p in target.parameters())


def test_categorical_loss_rejects_different_supports() -> None:
    batch = Batch(
        obs=torch.zeros(1, 3), actions=torch.tensor([0]), rewards=torch.zeros(1), next_obs=torch.zeros(1, 3),
        discounts=torch.ones(1), weights=torch.ones(1), indices=np.zeros(1, dtype=np.int64),
    )  # fmt: skip
    with pytest.raises(ValueError, match="support"):
        _run(CategoricalLoss(), online=_c51_net(0, 11), target=_c51_net(0, 5), batch=batch, target_rule=PlainTarget())


# -- noise handling (NoisyNet Algorithm 1) ---------------------------------------------------------


def _record_calls(net: QNetwork, log: list[str], tag: str) -> None:
    original = net.reset_noise

    def reset_noise(generator: torch.Generator | None = None) -> None:
        log.append(f"{tag}.reset")
        original(generator)

    net.reset_noise = reset_noise  # type: ignore[method-assign]

    def pre_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        log.append(f"{tag}.forward[{'grad' if torch.is_grad_enabled() else 'nograd'}]")

    net.register_forward_pre_hook(pre_hook)


@pytest.mark.parametrize(
    ("rule", "resample", "expected"),
    [
        (DoubleTarget(), True,
         ["online.reset", "online.forward[nograd]", "target.forward[nograd]", "online.reset", "online.forward[grad]"]),
        (DoubleTarget(), False, ["online.forward[nograd]", "target.forward[nograd]", "online.forward[grad]"]),
        (PlainTarget(), True, ["target.forward[nograd]", "online.forward[grad]"]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("head", ["q", "c51"])
def test_noise_resampling_order(rule, resample: bool, expected: list[str], head: str) -> None:
    def make() -> QNetwork:
        return build_network(
            torso_cfg={"name": "mlp", "hidden_sizes": [8]},
            head_cfg={"name": "q", "hidden_sizes": [8], "output": {"name": "scalar" if head == "q" else "categorical"}},
            layer_cfg={"name": "noisy_factorised"},
            obs_shape=(3,),
            num_actions=2,
        )

    online, target = make(), make()
    log: list[str] = []
    _record_calls(online, log, "online")
    _record_calls(target, log, "target")
    batch = Batch(
        obs=torch.randn(4, 3), actions=torch.tensor([0, 1, 0, 1]), rewards=torch.ones(4),
        next_obs=torch.randn(4, 3), discounts=torch.full((4,), 0.9), weights=torch.ones(4),
        indices=np.arange(4),
    )  # fmt: skip
    loss = build("loss", {"name": "td" if head == "q" else "categorical"})
    before = online.noisy_layers()[0][1].weight_epsilon.clone()
    out = _run(loss, online=online, target=target, batch=batch, target_rule=rule, resample=resample)
    assert log == expected
    changed = not torch.equal(before, online.noisy_layers()[0][1].weight_epsilon)
    assert changed == (resample and rule.needs_online_next)
    out.loss.backward()
    sigma_grad = online.noisy_layers()[0][1].weight_sigma.grad
    assert sigma_grad is not None and sigma_grad.abs().sum().item() > 0


def test_categorical_target_with_a_soft_policy_projects_each_action_then_mixes() -> None:
    """Munchausen's soft target on a C51 head: each next action's distribution shifted by its own bonus
    and projected (Bellemare et al. 2017, Algorithm 1, here by brute force), then mixed by the policy."""
    from rlkit.losses import target_distribution
    from rlkit.networks.outputs import CategoricalValues
    from rlkit.targets import NextPolicy

    support = torch.linspace(-2.0, 2.0, 5)
    logits = torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
    bonus = torch.tensor([[0.1, -0.4], [0.0, 0.2], [-1.0, 0.3]])
    batch = Batch(obs=torch.zeros(3, 1), actions=torch.zeros(3, dtype=torch.long), rewards=torch.tensor([0.5, 1.0, 0.0]),
                  next_obs=torch.zeros(3, 1), discounts=torch.tensor([0.9, 0.0, 0.5]), weights=torch.ones(3),
                  indices=np.arange(3))
    policy = NextPolicy(weights=weights, next_bonus=bonus, reward_bonus=torch.tensor([-0.2, 0.0, -0.1]))
    got = target_distribution(CategoricalValues(logits, support), policy, batch)
    probs = torch.softmax(logits, -1)
    expected = torch.zeros(3, 5, dtype=torch.float64)
    for a in range(2):
        shift = policy.rewards(batch) + batch.discounts * bonus[:, a]
        expected += weights[:, a:a + 1].double() * _project_reference(probs[:, a], shift, batch.discounts, support)
    torch.testing.assert_close(got.double(), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got.sum(-1), torch.ones(3))
