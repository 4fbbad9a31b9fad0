"""What a finished run leaves behind: summary.json, model.pt, the learning curve and a video."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from rlkit.training.run_state import LoopState
from rlkit.utils.files import atomic_write, atomic_write_json

log = logging.getLogger(__name__)


def run_summary(cfg: DictConfig, state: LoopState, final: dict[str, Any], *, stopped_early: bool,
                solved_threshold: float | None, frame_skip: int, updates: int, start_step: int,
                seed: int) -> dict[str, Any]:
    """The run's ``summary.json``: the final evaluation, best and solved points, counts and times."""
    return {
        "final_eval": {k: v for k, v in final.items() if k != "returns"},
        "final_eval_returns": final["returns"],
        "eval/episodic_return": final["mean"],
        "eval/hns": final["hns"],
        "best_eval_return": state.best_eval,
        "solved_at_step": state.solved_at_step,
        "solved_threshold": solved_threshold,
        "stopped_early": stopped_early,
        "steps": state.step,
        "frames": state.step * frame_skip,
        "updates": updates,
        "wall_time_s": state.wall_time_s,
        "train_time_s": state.train_time_s,
        "eval_time_s": state.eval_time_s,
        "sps": state.step / max(state.train_time_s, 1e-9),  # training steps per second of training time
        "resumed_from_step": start_step or None,
        "seed": seed,
        "env": str(cfg.env.get("id", cfg.env.name)),
        "run_name": str(cfg.run_name),
    }


def record_video(agent: Any, env_maker: Any, run_dir: Path, cfg: DictConfig, *, seed: int, step: int,
                 loggers: Any) -> None:
    """``eval.video_episodes`` evaluation episodes as ``videos/final.mp4`` (and to wandb)."""
    from rlkit.envs.video import record_episodes

    path = run_dir / "videos" / "final.mp4"
    returns = record_episodes(
        agent,
        env_maker,
        path,
        episodes=int(cfg.eval.get("video_episodes", 1)),
        epsilon=float(cfg.eval.epsilon),
        seed=seed + 200_000,
    )
    log.info("video of %d episode(s) (returns %s): %s", len(returns), returns, path)
    loggers.log_video(step, "eval/video", path)


def write_outputs(run_dir: Path, agent: Any, summary: dict[str, Any], *, run_name: str) -> None:
    """``model.pt`` (the online network's weights), ``summary.json`` and ``learning_curve.png``."""
    weights = {k: v.detach().cpu() for k, v in agent.online.state_dict().items()}
    atomic_write(run_dir / "model.pt", lambda f: torch.save(weights, f), binary=True)
    atomic_write_json(run_dir / "summary.json", summary)
    try:
        from rlkit.analysis.curves import plot_learning_curve

        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png", title=run_name)
    except FileNotFoundError:
        log.warning("no metrics.jsonl (jsonl logger disabled?): learning curve not drawn")
    log.info("summary: %s", json.dumps({k: summary[k] for k in ("steps", "eval/episodic_return", "wall_time_s")}))
