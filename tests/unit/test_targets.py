"""Target rules: plain (max over the target network) and double (online argmax)."""

from __future__ import annotations

import pytest
import torch

import rlkit.targets  # noqa: F401  (registers components)
from rlkit.registry import build
from rlkit.targets import DoubleTarget, PlainTarget

ONLINE = torch.tensor([[1.0, 5.0, 2.0], [0.0, -1.0, 3.0]])  # [B, A]
TARGET = torch.tensor([[4.0, 0.0, 3.0], [2.0, 7.0, 1.0]])  # [B, A]


def test_plain_takes_target_argmax() -> None:
    rule = build("target", {"name": "plain"})
    assert isinstance(rule, PlainTarget) and rule.needs_online is False
    actions = rule.select(None, TARGET)
    assert actions.dtype == torch.int64
    assert actions.tolist() == [0, 1]
    assert TARGET.gather(1, actions[:, None]).squeeze(1).tolist() == [4.0, 7.0]  # = max_a Q_target


def test_double_takes_online_argmax() -> None:
    rule = build("target", {"name": "double"})
    assert isinstance(rule, DoubleTarget) and rule.needs_online is True
    actions = rule.select(ONLINE, TARGET)
    assert actions.dtype == torch.int64
    assert actions.tolist() == [1, 2]
    # evaluated by the target network: lower than the target's own max
    assert TARGET.gather(1, actions[:, None]).squeeze(1).tolist() == [0.0, 1.0]


def test_double_requires_online_values() -> None:
    with pytest.raises(ValueError, match="online"):
        DoubleTarget().select(None, TARGET)
    with pytest.raises(ValueError, match="shape"):
        DoubleTarget().select(ONLINE[:, :2], TARGET)
