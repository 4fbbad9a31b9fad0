"""Target rules: plain (max over the target network), double (online argmax), Munchausen (soft)."""

from __future__ import annotations

import math

import pytest
import torch

import rlkit.targets  # noqa: F401  (registers components)
from rlkit.networks.outputs import QuantileValues, ScalarValues
from rlkit.registry import build
from rlkit.targets import DoubleTarget, MunchausenTarget, NextPolicy, PlainTarget, scaled_log_softmax

ONLINE = ScalarValues(torch.tensor([[1.0, 5.0, 2.0], [0.0, -1.0, 3.0]]))  # [B, A]
TARGET = ScalarValues(torch.tensor([[4.0, 0.0, 3.0], [2.0, 7.0, 1.0]]))  # [B, A]


def test_plain_takes_target_argmax() -> None:
    rule = build("target", {"name": "plain"})
    assert isinstance(rule, PlainTarget) and rule.needs_online_next is False and rule.needs_target_obs is False
    policy = rule(target_next=TARGET, online_next=None, target_obs=None, actions=torch.tensor([0, 0]))
    assert policy.actions is not None and policy.actions.dtype == torch.int64
    assert policy.actions.tolist() == [0, 1]
    assert policy.weights.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert policy.expected(TARGET.q_values).tolist() == [4.0, 7.0]  # = max_a Q_target


def test_double_takes_online_argmax() -> None:
    rule = build("target", {"name": "double"})
    assert isinstance(rule, DoubleTarget) and rule.needs_online_next is True
    policy = rule(target_next=TARGET, online_next=ONLINE, target_obs=None, actions=torch.tensor([0, 0]))
    assert policy.actions.tolist() == [1, 2]
    # evaluated by the target network: lower than the target's own max
    assert policy.expected(TARGET.q_values).tolist() == [0.0, 1.0]


def test_double_requires_online_values() -> None:
    with pytest.raises(ValueError, match="online"):
        DoubleTarget()(target_next=TARGET, online_next=None, target_obs=None, actions=torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="shape"):
        DoubleTarget()(target_next=TARGET, online_next=ScalarValues(ONLINE.values[:, :2]), target_obs=None,
                       actions=torch.tensor([0, 0]))


def test_greedy_policy_mixes_exactly_like_gathering() -> None:
    """One-hot weights give the gathered values bit for bit, per atom too."""
    values = torch.randn(5, 4, 7)
    actions = torch.tensor([0, 3, 1, 1, 2])
    weights = torch.nn.functional.one_hot(actions, 4).float()
    gathered = NextPolicy(weights=weights, actions=actions).expected(values)
    mixed = NextPolicy(weights=weights).expected(values)
    assert torch.equal(gathered, values[torch.arange(5), actions]) and torch.equal(mixed, gathered)


def test_munchausen_target_hand_computed() -> None:
    """Vieillard et al. 2020, eq. 2, on two actions with tau = 0.5, alpha = 0.9, l0 = -1.

    s': q = (1, 2): pi = softmax(q / 0.5) = (1, e^2) / (1 + e^2);
    tau log pi = (-0.5 log(1 + e^2), 1 - 0.5 log(1 + e^2)) = (-1.0635, -0.0635);
    soft value = sum pi (q - tau log pi) = tau log sum exp(q / tau) = 0.5 log(e^2 + e^4) = 2.0635.
    s: q = (0, 3), taken a = 0: tau log pi(0|s) = -0.5 log(1 + e^6) = -3.0012, clipped to -1, times 0.9 = -0.9.
    """
    rule = MunchausenTarget(alpha=0.9, tau=0.5, l0=-1.0)
    assert rule.needs_target_obs and not rule.needs_online_next
    policy = rule(target_next=ScalarValues(torch.tensor([[1.0, 2.0]])), online_next=None,
                  target_obs=ScalarValues(torch.tensor([[0.0, 3.0]])), actions=torch.tensor([0]))
    pi = [1 / (1 + math.e**2), math.e**2 / (1 + math.e**2)]
    assert policy.weights[0].tolist() == pytest.approx(pi, rel=1e-6)
    assert policy.next_bonus[0].tolist() == pytest.approx([0.5 * math.log(1 + math.e**2),
                                                           0.5 * math.log(1 + math.e**2) - 1.0], rel=1e-6)
    soft_value = policy.expected(torch.tensor([[1.0, 2.0]])).item()
    assert soft_value == pytest.approx(0.5 * math.log(math.e**2 + math.e**4), rel=1e-6)
    assert policy.reward_bonus.tolist() == pytest.approx([-0.9])
    # an action the policy likes: tau log pi(1|s) = 3 - 0.5 log(1 + e^6) = -0.00124 (not clipped)
    policy = rule(target_next=ScalarValues(torch.tensor([[1.0, 2.0]])), online_next=None,
                  target_obs=ScalarValues(torch.tensor([[0.0, 3.0]])), actions=torch.tensor([1]))
    assert policy.reward_bonus.item() == pytest.approx(0.9 * (3 - 0.5 * math.log(1 + math.e**6)), rel=1e-4)  # float32


def test_munchausen_policy_reads_quantile_outputs_and_is_stable_at_small_tau() -> None:
    quantiles = torch.tensor([[[0.0, 2.0], [1000.0, 1002.0]]])  # [B=1, A=2, T=2]: q = (1, 1001)
    out = QuantileValues(quantiles, torch.tensor([[0.25, 0.75]]))
    policy = MunchausenTarget(tau=0.03)(target_next=out, online_next=None, target_obs=out, actions=torch.tensor([0]))
    assert torch.isfinite(policy.weights).all() and policy.weights[0].tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    assert policy.reward_bonus.item() == pytest.approx(0.9 * -1.0)  # tau log pi = -1000, clipped at l0
    assert scaled_log_softmax(torch.tensor([[1.0, 1001.0]]), 0.03)[0, 1].item() == pytest.approx(0.0, abs=1e-6)
    per_quantile = policy.expected(quantiles)  # [B, T]: the soft bootstrap of each quantile
    assert per_quantile[0].tolist() == pytest.approx([1000.0, 1002.0], abs=1e-4)


def test_munchausen_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="tau"):
        MunchausenTarget(tau=0.0)
    with pytest.raises(ValueError, match="alpha"):
        MunchausenTarget(alpha=1.5)
    with pytest.raises(ValueError, match="l0"):
        MunchausenTarget(l0=0.0)
