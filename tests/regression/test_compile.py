"""``compile=true`` (torch.compile of the online and target networks) trains like the eager run, within float
round-off: same actions, losses within tolerance, same checkpoint keys. Slow: compiling costs tens of seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import compose


def _run(agent: str, compiled: bool) -> tuple[list, list[float], dict]:
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from rlkit.types import Batch

    torch.manual_seed(0)
    parts = build_parts(compose(f"agent={agent}", "torch_threads=1", f"compile={str(compiled).lower()}"),
                        torch.device("cpu"))
    agent_ = parts.agent
    assert (agent_.online._compiled_call_impl is not None) == compiled  # nn.Module.compile took effect
    rng = np.random.default_rng(0)
    actions, losses = [], []
    for step in range(4):
        obs = rng.normal(size=(4, 4)).astype(np.float32)
        actions.append(agent_.act(obs, step=step * 1_000).tolist())
        batch = Batch(obs=torch.from_numpy(rng.normal(size=(16, 4)).astype(np.float32)),
                      actions=torch.from_numpy(rng.integers(2, size=16)), rewards=torch.ones(16),
                      next_obs=torch.from_numpy(rng.normal(size=(16, 4)).astype(np.float32)),
                      discounts=torch.full((16,), 0.9), weights=torch.ones(16), indices=np.arange(16))
        losses.append(agent_.update(batch).metrics["losses/td_loss"])
    return actions, losses, agent_.online.state_dict()


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("agent", ["dqn", "rainbow"])
def test_compiled_networks_learn_like_eager_ones(agent):
    eager_actions, eager_losses, eager_state = _run(agent, compiled=False)
    actions, losses, state = _run(agent, compiled=True)
    assert actions == eager_actions
    assert losses == pytest.approx(eager_losses, rel=1e-4, abs=1e-6)
    assert state.keys() == eager_state.keys()  # checkpoints keep their parameter names
    for key in state:
        torch.testing.assert_close(state[key], eager_state[key], rtol=1e-4, atol=1e-5)


def test_compile_must_be_a_bool():
    from rlkit.validation import validate_config

    problems = {p.key: p for p in validate_config(compose("compile=maybe"))}
    assert "compile" in problems and "true or false" in problems["compile"].message
