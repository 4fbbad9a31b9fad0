"""Same seed on CPU, same numbers: two runs produce identical metrics and weights."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import read_jsonl, train_in_process

OVERRIDES = ["train.steps=1500", "train.learning_starts_steps=300", "eval.every_steps=500", "eval.episodes=3",
             "train.log_every_steps=250", "device=cpu", "seed=7"]
VOLATILE = {"time", "charts/SPS", "eval/wall_time_s"}  # clocks


def _run(path, *extra):
    summary = train_in_process(path, *OVERRIDES, *extra)
    rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_jsonl(path / "metrics.jsonl")]
    return summary, rows, torch.load(path / "model.pt", weights_only=True)


def test_same_seed_same_metrics_rainbow(tmp_path):
    s1, rows1, w1 = _run(tmp_path / "a")
    s2, rows2, w2 = _run(tmp_path / "b")
    assert any("losses/td_loss" in r for r in rows1)
    assert rows1 == rows2
    assert s1["final_eval_returns"] == s2["final_eval_returns"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_different_seed_different_metrics(tmp_path):
    _, rows1, _ = _run(tmp_path / "a", "agent=dqn")
    _, rows2, _ = _run(tmp_path / "b", "agent=dqn", "seed=8")
    assert rows1 != rows2


@pytest.mark.parametrize("agent", ["dqn", "rainbow"])
def test_evaluation_does_not_change_training(tmp_path, agent):
    """Evaluations draw their own random numbers (exploration, noisy-net noise) and put the network's
    noise back: a run evaluated often, rarely or with more envs learns the very same weights."""
    _, rows1, w1 = _run(tmp_path / "a", f"agent={agent}", "eval.every_steps=0", "eval.final_episodes=1")
    _, rows2, w2 = _run(tmp_path / "b", f"agent={agent}", "eval.every_steps=250", "eval.episodes=4",
                        "eval.num_envs=2", "eval.epsilon=0.2", "eval.final_episodes=1")
    train = ("charts/episodic_return", "losses/td_loss")
    assert [r for r in rows1 if any(k in r for k in train)] == [r for r in rows2 if any(k in r for k in train)]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_evaluation_is_seeded_by_its_own_seed():
    """Two evaluations with the same seed act alike whatever the agent did in between."""
    import numpy as np

    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from rlkit.training.evaluate import evaluate
    from tests.helpers import compose

    cfg = compose("train.learning_starts_steps=100", "replay.capacity=1000")
    parts = build_parts(cfg, torch.device("cpu"))
    envs = parts.env_maker.make_eval(num_envs=2, seed=0)
    try:
        first = evaluate(parts.agent, envs, episodes=4, epsilon=0.3, seed=11)
        parts.agent.act(np.zeros((1, 4), dtype=np.float32), 0)  # the agent's own streams move on
        second = evaluate(parts.agent, envs, episodes=4, epsilon=0.3, seed=11)
    finally:
        envs.close()
    assert first["returns"] == second["returns"]
