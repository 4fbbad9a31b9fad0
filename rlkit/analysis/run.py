"""One finished run: its config (``config.yaml``), summary (``summary.json``) and metric records
(``metrics.jsonl``), and what it scored: score, human-normalised score, return range, evaluation curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
EVAL_KEY = "eval/episodic_return"
FINAL_KEY = "final/episodic_return"
# Per-step reward bounds of gymnasium envs with their default reward (no env.kwargs), by id without version.
STEP_REWARDS = {"CartPole": (0.0, 1.0), "Acrobot": (-1.0, 0.0), "MountainCar": (-1.0, 0.0)}

ScoreMetric = Literal["final", "best"]


class RunsError(ValueError):
    """No usable runs, or a run directory that cannot be read; the message says which and why."""


@dataclass
class Run:
    """One finished run: where it is, its config (nested and flattened), summary and metric records."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    experiment: str
    variant_key: str
    seed: int
    env_id: str
    task: str
    game: str | None  # Atari-57 game with human/random reference scores, else None
    flat: dict[str, Any] = field(default_factory=dict)
    overrides: frozenset[str] | None = None  # command-line overrides that may define a variant; None: unknown
    variant: str = ""  # filled in by group_variants

    def score(self, metric: ScoreMetric = "final") -> float:
        """Mean evaluation return: of the final evaluation, or the best evaluation of the run."""
        if metric == "final":
            value = self.summary.get(EVAL_KEY)
            if _finite(value):
                return float(value)
            finals = [r[FINAL_KEY] for r in self.records if _finite(r.get(FINAL_KEY))]
            if finals:
                return float(finals[-1])
            raise RunsError(f"{self.path}: no final evaluation return ({EVAL_KEY} in {SUMMARY_FILE})")
        if metric == "best":
            evals = [r[EVAL_KEY] for r in self.records if _finite(r.get(EVAL_KEY))]
            best = self.summary.get("best_eval_return")
            candidates = evals + ([float(best)] if _finite(best) else [])
            if candidates:
                return float(max(candidates))
            return self.score("final")
        raise ValueError(f"metric must be 'final' or 'best', got {metric!r}")

    def hns(self, metric: ScoreMetric = "final") -> float | None:
        """Human-normalised score of :meth:`score` (Atari-57 games only, else None)."""
        if self.game is None:
            return None
        from rlkit.analysis.hns import human_normalized_score

        return human_normalized_score(self.game, self.score(metric))

    def return_range(self) -> tuple[tuple[float, float] | None, str]:
        """``(range, why)`` of the run's episode returns: per-step reward bounds (:data:`STEP_REWARDS`) times the
        episode cap (``env.max_episode_steps``, else gymnasium's ``max_episode_steps``); ``None`` when unknown."""
        import gymnasium
        from gymnasium.envs.registration import parse_env_id

        env = self.config.get("env") if isinstance(self.config.get("env"), dict) else {}
        if env.get("game") is not None:
            return None, f"unknown: Atari game {self.task}"
        try:
            namespace, name, _ = parse_env_id(self.env_id)
            registered = gymnasium.spec(self.env_id).max_episode_steps
        except gymnasium.error.Error:
            return None, f"unknown: {self.env_id} is not a registered gymnasium id"
        bounds = STEP_REWARDS.get(name) if namespace is None else None
        if bounds is None or env.get("kwargs"):
            why = "env.kwargs may change its rewards" if bounds else "per-step reward bounds not known"
            return None, f"unknown: {self.env_id}: {why}"
        cap, where = env.get("max_episode_steps"), "env.max_episode_steps"
        if cap is None:
            cap, where = registered, "gymnasium max_episode_steps"
        if cap is None:
            return None, f"unknown: {self.env_id} has no episode cap"
        lo, hi = bounds
        return ((min(0.0, lo * cap), max(0.0, hi * cap)),
                f"{self.env_id}: reward in [{lo:g}, {hi:g}] per step, at most {cap} steps ({where})")

    def eval_curve(self, key: str = EVAL_KEY) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of the run's evaluations; at a repeated step the last record wins."""
        by_step: dict[int, float] = {}
        for record in self.records:
            if _finite(record.get(key)) and isinstance(record.get("step"), int):
                by_step[record["step"]] = float(record[key])
        steps = sorted(by_step)
        return steps, [by_step[s] for s in steps]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
