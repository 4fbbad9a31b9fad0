"""Evaluation episodes on their own vector env."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from rlkit.training.episodes import EpisodeTracker, game_over


class EvaluationInterrupted(Exception):
    """``should_stop`` turned true during an evaluation (e.g. a preemption signal)."""


def evaluate(
    agent: Any,
    envs: Any,
    *,
    episodes: int,
    epsilon: float,
    seed: int,
    max_steps: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes with ``agent.act_eval``; returns raw-return statistics.

    Episodes are split evenly over the envs and each env's first episodes are the ones counted,
    so short episodes are not over-represented. ``max_steps`` (agent steps summed over envs)
    bounds the whole evaluation; episodes unfinished by then are not counted. ``should_stop`` is
    polled every step; when it returns true the evaluation is abandoned with
    :class:`EvaluationInterrupted`.
    """
    if episodes < 1:
        raise ValueError(f"eval.episodes must be >= 1, got {episodes}")
    num_envs = envs.num_envs
    wanted = np.array([episodes // num_envs + (i < episodes % num_envs) for i in range(num_envs)])
    returns: list[float] = []
    lengths: list[int] = []
    done_per_env = np.zeros(num_envs, dtype=np.int64)
    tracker = EpisodeTracker(num_envs)
    obs, _ = envs.reset(seed=[seed + i for i in range(num_envs)])
    steps = 0
    isolated = getattr(agent, "evaluating", None)  # own random numbers: evaluation never changes training
    with isolated(seed) if isolated is not None else contextlib.nullcontext():
        while (done_per_env < wanted).any():
            if max_steps is not None and steps >= max_steps:
                break
            if should_stop is not None and should_stop():
                raise EvaluationInterrupted(f"evaluation stopped after {steps} steps")
            actions = agent.act_eval(obs, epsilon)  # one batched forward pass for all envs
            obs, rewards, terminated, truncated, info = envs.step(actions)
            steps += num_envs
            for env_index, ret, length in tracker.step(rewards, game_over(info, terminated, truncated)):
                if done_per_env[env_index] < wanted[env_index]:
                    returns.append(ret)
                    lengths.append(length)
                    done_per_env[env_index] += 1
    arr = np.asarray(returns, dtype=np.float64)
    return {
        "episodes": len(returns),
        "mean": float(arr.mean()) if len(arr) else float("nan"),
        "std": float(arr.std()) if len(arr) else float("nan"),
        "min": float(arr.min()) if len(arr) else float("nan"),
        "max": float(arr.max()) if len(arr) else float("nan"),
        "mean_length": float(np.mean(lengths)) if lengths else float("nan"),
        "returns": [float(r) for r in returns],
        "steps": steps,
    }
