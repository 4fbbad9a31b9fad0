"""All 2^6 combinations of Rainbow's six ingredients compose from overrides and train, with C51 and
with IQN as the distributional ingredient (the 32 combinations with it on, again).

Ingredients: double target, dueling head, noisy nets, prioritised replay, n-step, distributional.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tests.helpers import compose

FLAGS = ("double", "dueling", "noisy", "prioritized", "n_step", "distributional")


DISTRIBUTIONAL_LOSS = {"c51": "categorical", "iqn": "quantile_huber"}


def overrides_for(on: dict[str, bool], distributional: str = "c51") -> list[str]:
    head = distributional if on["distributional"] else "q"
    if on["dueling"]:
        head = "dueling" if head == "q" else f"dueling_{head}"
    return [
        "agent=dqn",
        f"target={'double' if on['double'] else 'plain'}",
        f"network/head={head}",
        f"loss={DISTRIBUTIONAL_LOSS[distributional] if on['distributional'] else 'td'}",
        f"network/layer={'noisy_factorised' if on['noisy'] else 'linear'}",
        f"exploration={'noisy' if on['noisy'] else 'epsilon'}",
        f"replay/sampler={'prioritized' if on['prioritized'] else 'uniform'}",
        f"agent.n_step={3 if on['n_step'] else 1}",
    ]


CASES = [("c51", bits) for bits in itertools.product([False, True], repeat=6)] + [
    ("iqn", bits) for bits in itertools.product([False, True], repeat=6) if bits[FLAGS.index("distributional")]
]


@pytest.mark.parametrize(("distributional", "bits"), CASES,
                         ids=[f"{d}-{''.join('1' if x else '0' for x in b)}" for d, b in CASES])
def test_combination_composes_and_takes_gradient_steps(distributional, bits):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from rlkit.training.loop import real_next_obs

    on = dict(zip(FLAGS, bits))
    cfg = compose("torch_threads=1", "agent.batch_size=16", "iqn.num_samples_online=4", "iqn.num_samples_target=4",
                  "iqn.num_samples_act=4", *overrides_for(on, distributional))
    parts = build_parts(cfg, torch.device("cpu"))
    agent, replay = parts.agent, parts.replay
    assert agent.online.distributional == on["distributional"]
    expected_kind = {"c51": "categorical", "iqn": "quantile"}[distributional] if on["distributional"] else "scalar"
    assert agent.online.kind == expected_kind and (agent.online.head.kind == expected_kind)
    assert bool(agent.online.noisy_layers()) == on["noisy"]
    envs = parts.env_maker.make_train(seed=0)
    obs, _ = envs.reset(seed=[0])
    for step in range(80):
        actions = agent.act(obs, step)
        nxt, rew, term, trunc, info = envs.step(actions)
        replay.add_step(obs, actions, rew, real_next_obs(nxt, info), term, trunc)
        obs = nxt
    envs.close()
    before = [p.detach().clone() for p in agent.online.parameters()]
    for _ in range(3):
        batch = replay.sample(16, torch.device("cpu"))
        loss = agent.update(batch)
        replay.update_priorities(batch.indices, loss.priorities)
        assert torch.isfinite(loss.loss) and loss.priorities.shape == (16,)
        assert np.isfinite(loss.metrics["losses/td_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.online.parameters()))
