"""Evaluations during a run: periodic, final, and the check of a solving one; timed and logged."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from rlkit.training.evaluate import evaluate
from rlkit.training.run_state import LoopState, RunClock

log = logging.getLogger(__name__)


class Evaluator:
    """Runs a run's evaluations (:func:`~rlkit.training.evaluate.evaluate` on the eval envs), keeps its
    evaluation counters in ``state`` (count, best, solved step, seconds) and logs the results."""

    def __init__(self, cfg: DictConfig, agent: Any, *, game: str | None, seed: int, state: LoopState,
                 clock: RunClock, solved_threshold: float | None, should_stop: Callable[[], bool]) -> None:
        self.cfg, self.agent, self.game, self.seed = cfg, agent, game, seed
        self.state, self.clock = state, clock
        self.solved_threshold = solved_threshold
        self.should_stop = should_stop

    def evaluate(self, eval_envs: Any, loggers: Any, prefix: str = "eval", *,
                 interruptible: bool = True) -> dict[str, Any]:
        """Evaluate (``eval.episodes``; ``eval.final_episodes`` for the final one) and log it."""
        result = self.run(eval_envs, final=prefix == "final", interruptible=interruptible)
        self.log(loggers, result, prefix)
        return result

    def run(self, eval_envs: Any, *, final: bool, interruptible: bool = True) -> dict[str, Any]:
        """One evaluation, not logged; a stop signal interrupts it if ``interruptible``."""
        ecfg, state = self.cfg.eval, self.state
        episodes = int(ecfg.episodes)
        if final and ecfg.get("final_episodes") is not None:
            episodes = int(ecfg.final_episodes)
        start = time.perf_counter()
        result = evaluate(
            self.agent,
            eval_envs,
            episodes=episodes,
            epsilon=float(ecfg.epsilon),
            seed=self.seed + 100_000 + 1_000 * (state.eval_count + 1),
            max_steps=ecfg.get("max_steps"),
            should_stop=self.should_stop if interruptible else None,
        )
        self.agent.online.train()
        result["wall_time_s"] = seconds = time.perf_counter() - start
        self.clock.pause(seconds)
        state.eval_time_s += seconds
        state.eval_count += 1
        threshold = self.solved_threshold
        if threshold is not None and state.solved_at_step is None and result["mean"] >= threshold:
            state.solved_at_step = state.step
        state.best_eval = max(state.best_eval, result["mean"])
        result["hns"] = self._human_normalized(result["mean"])
        return result

    def log(self, loggers: Any, result: dict[str, Any], prefix: str) -> None:
        """``eval/*`` (a learning-curve point), plus ``final/*`` for the final evaluation; ``confirm/*``
        alone for a confirmation that did not confirm."""
        key = "confirm" if prefix == "confirm" else "eval"
        metrics = {
            f"{key}/episodic_return": result["mean"],
            f"{key}/episodic_return_std": result["std"],
            f"{key}/episodic_return_min": result["min"],
            f"{key}/episodic_return_max": result["max"],
            f"{key}/episodic_length": result["mean_length"],
            f"{key}/episodes": result["episodes"],
        }
        if result["hns"] is not None:
            metrics[f"{key}/hns"] = result["hns"]
        if prefix == "final":
            metrics = {**metrics, **{k.replace("eval/", "final/"): v for k, v in metrics.items()}}
        metrics[f"{key}/wall_time_s"] = result["wall_time_s"]
        loggers.log(self.state.step, metrics)

    def confirm_solved(self, eval_envs: Any, loggers: Any, result: dict[str, Any],
                       threshold: float) -> dict[str, Any] | None:
        """A periodic evaluation reached ``threshold``: evaluate again on ``eval.final_episodes`` episodes
        (new seeds). If that confirms it, it is the run's final evaluation (returned) and the run stops;
        else training goes on. A 10-episode mean is noisy: a CartPole policy that scored 484 on 10
        episodes scored 466 on 100 (measured), and gymnasium's "solved" is a 100-episode mean >= 475."""
        step = self.state.step
        if self.cfg.eval.get("final_episodes") in (None, self.cfg.eval.episodes):
            log.info("eval return %.1f >= %.1f at step %d: stopping", result["mean"], threshold, step)
            return self.evaluate(eval_envs, loggers, prefix="final", interruptible=False)
        confirm = self.run(eval_envs, final=True, interruptible=False)
        confirmed = confirm["mean"] >= threshold
        self.log(loggers, confirm, "final" if confirmed else "confirm")
        log.info("eval return %.1f >= %.1f at step %d; on %d episodes %.1f: %s", result["mean"], threshold, step,
                 confirm["episodes"], confirm["mean"], "stopping" if confirmed else "not confirmed, training goes on")
        return confirm if confirmed else None

    def _human_normalized(self, score: float) -> float | None:
        """Human-normalised score for Atari-57 games (None for other envs or games)."""
        if self.game is None or not math.isfinite(score):
            return None
        from rlkit.analysis.hns import human_normalized_score

        try:
            return human_normalized_score(self.game, score)
        except ValueError:
            log.warning("no human/random reference scores for %s: eval/hns not logged", self.game)
            return None
