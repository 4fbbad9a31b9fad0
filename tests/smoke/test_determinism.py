"""Same seed on CPU, same numbers: two runs produce identical metrics and weights."""

from __future__ import annotations

import torch

from tests.helpers import read_jsonl, train_in_process

OVERRIDES = ["train.steps=1500", "train.learning_starts_steps=300", "eval.every_steps=500", "eval.episodes=3",
             "train.log_every_steps=250", "device=cpu", "seed=7"]
VOLATILE = {"time", "charts/SPS"}


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
