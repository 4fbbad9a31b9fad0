"""A gradient update reads the device once: the loss, every metric and the gradient norm in one transfer.

On a GPU each read (``.item()``, ``.tolist()``, ``float(tensor)``, ``bool(tensor)``) waits for the
device; the update gathers what it reports into one ``tolist`` (which is also where the non-finite guard
looks, before the optimiser step). Counted here on CPU by wrapping those methods, for calls made from
rlkit's code (torch's optimisers read their step counters with ``.item()``, host tensors even on a GPU).
This is the default path (``sync_free=false``, the CPU default); sync-free updates read nothing at all
(``tests/unit/test_sync_free.py``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from tests.helpers import compose


def _counting(monkeypatch) -> dict[str, int]:
    counts = {"tolist": 0, "item": 0, "__float__": 0, "__bool__": 0}
    for name in counts:
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, _name=name, _original=original, **kwargs):
            if sys._getframe(1).f_globals.get("__name__", "").startswith("rlkit"):
                counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return counts


@pytest.mark.parametrize("agent", ["dqn", "rainbow", "qr_dqn", "m_iqn"])
def test_one_device_read_per_update(monkeypatch, agent):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from rlkit.types import Batch

    parts = build_parts(compose(f"agent={agent}", "torch_threads=1", "sync_free=false"), torch.device("cpu"))
    rng = np.random.default_rng(0)
    batch = Batch(obs=torch.from_numpy(rng.normal(size=(8, 4)).astype(np.float32)),
                  actions=torch.from_numpy(rng.integers(2, size=8)), rewards=torch.ones(8),
                  next_obs=torch.from_numpy(rng.normal(size=(8, 4)).astype(np.float32)),
                  discounts=torch.full((8,), 0.9), weights=torch.ones(8), indices=np.arange(8))
    parts.agent.update(batch)  # first update: lazy initialisation outside the count
    counts = _counting(monkeypatch)
    out = parts.agent.update(batch)
    assert counts == {"tolist": 1, "item": 0, "__float__": 0, "__bool__": 0}
    assert {"losses/td_loss", "losses/q_values"} <= set(out.metrics)
    assert all(type(v) is float for v in out.metrics.values())
