"""Atari end to end on CPU: `rlkit-train env=atari env.game=pong agent=rainbow` for a few hundred steps."""

from __future__ import annotations

import json
import math

from tests.helpers import read_jsonl, run_cli


def test_rainbow_on_pong_writes_metrics_summary_hns_and_video(tmp_path):
    run_dir = tmp_path / "run"
    args = [f"hydra.run.dir={run_dir}", "env=atari", "env.game=pong", "agent=rainbow", "train.steps=400",
            "train.learning_starts_steps=100", "train.log_every_steps=100", "replay.capacity=5000",
            "env.max_episode_frames=2000", "eval.every_steps=200", "eval.episodes=1", "eval.video=true",
            "torch_threads=1", "logger.wandb.mode=offline", "logger.console.enabled=false"]
    proc = run_cli("rlkit-train", args, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    score = summary["eval/episodic_return"]
    # Pong: random -20.7, human 14.6 (atari57_random_human.csv)
    assert math.isclose(summary["eval/hns"], (score + 20.7) / (14.6 + 20.7), rel_tol=1e-9)
    assert summary["frames"] == 4 * summary["steps"] == 1600 and summary["updates"] > 0
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert any("eval/hns" in r for r in rows) and any("losses/td_loss" in r for r in rows)
    assert any(k.startswith("noise/snr/") for r in rows for k in r)
    video = run_dir / "videos" / "final.mp4"
    assert video.stat().st_size > 1000 and video.read_bytes()[4:8] == b"ftyp"
    resolved = (run_dir / "config.yaml").read_text()
    assert "nature_cnn" in resolved and "frame_stack" in resolved
