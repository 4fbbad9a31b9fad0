"""The training loop: act in vector envs, store n-step transitions, learn, evaluate, log.

Time is counted in agent steps (one action in one env); a vector step over E envs is E steps.
Bootstrapping follows gymnasium's two flags: a *terminated* episode ends the return with no
bootstrap; a *truncated* one (time limit) bootstraps from its real last observation.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rlkit.logging import build_loggers
from rlkit.training.builder import Parts, build_parts, import_user_modules
from rlkit.training.episodes import EpisodeTracker, game_over
from rlkit.training.evaluate import evaluate
from rlkit.training.files import atomic_write, atomic_write_json
from rlkit.utils.runtime import configure_threads, resolve_device, seed_everything

log = logging.getLogger(__name__)


def real_next_obs(next_obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Next observations with each finished env's reset observation replaced by its final one."""
    mask = info.get("_final_obs")
    if mask is None or not np.any(mask):
        return next_obs
    out = next_obs.copy()
    for i in np.flatnonzero(mask):
        out[i] = info["final_obs"][i]
    return out


@dataclass
class LoopState:
    """The loop's counters (agent steps unless named otherwise); part of a checkpoint."""

    step: int = 0
    next_update_step: int = 0
    next_log_step: int = 0
    next_eval_step: float = math.inf
    eval_count: int = 0
    best_eval: float = -math.inf
    solved_at_step: int | None = None

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class Trainer:
    """Owns the parts of one run and drives them for ``train.steps`` agent steps."""

    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        import_user_modules(list(cfg.get("imports") or []))
        configure_threads(cfg.torch_threads)
        seed_everything(int(cfg.seed))
        self.device = resolve_device(str(cfg.device))
        self.parts: Parts = build_parts(cfg, self.device)
        self.total_steps = int(cfg.train.steps)
        self.seed = int(cfg.seed)
        self.tracker = EpisodeTracker(self.parts.env_maker.num_envs)
        eval_every = int(cfg.eval.every_steps)
        self.state = LoopState(
            next_update_step=max(int(cfg.train.learning_starts_steps), int(cfg.agent.batch_size)),
            next_log_step=int(cfg.train.log_every_steps),
            next_eval_step=eval_every if eval_every > 0 else math.inf,
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything the loop owns besides the env simulators: counters, parts, RNGs."""
        from rlkit.utils.runtime import rng_state

        return {
            "loop": self.state.state_dict(),
            "episodes": self.tracker.state_dict(),
            "agent": self.parts.agent.state_dict(),
            "replay": self.parts.replay.state_dict(),
            "rng": rng_state(),
        }

    # ------------------------------------------------------------------------------ main
    def train(self) -> dict[str, Any]:
        cfg, parts = self.cfg, self.parts
        agent, replay = parts.agent, parts.replay
        resolved = OmegaConf.to_container(cfg, resolve=True)
        atomic_write(self.run_dir / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))
        loggers = build_loggers(
            cfg.logger, run_dir=self.run_dir, total_steps=self.total_steps, run_name=str(cfg.run_name)
        )
        loggers.log_config(resolved)
        envs = parts.env_maker.make_train(seed=self.seed)
        eval_envs = parts.env_maker.make_eval(num_envs=int(cfg.eval.num_envs), seed=self.seed + 100_000)
        num_envs = envs.num_envs
        tracker, state = self.tracker, self.state
        train_cfg = cfg.train
        learning_starts = int(train_cfg.learning_starts_steps)
        update_every = int(train_cfg.update_every_steps)
        updates_per_cycle = int(train_cfg.updates_per_cycle)
        log_every = int(train_cfg.log_every_steps)
        eval_every = int(cfg.eval.every_steps)
        stop_at = cfg.train.get("stop_at_eval_return")
        batch_size = int(cfg.agent.batch_size)
        reward_clip = parts.env_maker.spec.reward_clip

        pending: dict[str, list[float]] = defaultdict(list)
        start_time = last_log_time = time.perf_counter()
        last_log_step = state.step
        obs, _ = envs.reset(seed=[self.seed + i for i in range(num_envs)])
        stopped_early = False
        try:
            while state.step < self.total_steps:
                actions = agent.act(obs, state.step)
                next_obs, rewards, terminated, truncated, info = envs.step(actions)
                final_obs = real_next_obs(next_obs, info)
                learner_rewards = rewards if reward_clip is None else np.clip(rewards, -reward_clip, reward_clip)
                replay.add_step(obs, actions, learner_rewards, final_obs, terminated, truncated)
                obs = next_obs
                state.step += num_envs
                for _, ret, length in tracker.step(rewards, game_over(info, terminated, truncated)):
                    loggers.log(state.step, {"charts/episodic_return": ret, "charts/episodic_length": length})

                replay.set_progress(state.step / self.total_steps)
                while state.step >= state.next_update_step and len(replay) >= batch_size:
                    for _ in range(updates_per_cycle):
                        batch = replay.sample(batch_size, self.device)
                        out = agent.update(batch)
                        replay.update_priorities(batch.indices, out.priorities)
                        for key, value in out.metrics.items():
                            pending[key].append(value)
                    state.next_update_step += update_every
                if state.step >= learning_starts:
                    agent.maybe_sync_target(state.step)

                if state.step >= state.next_log_step:
                    now = time.perf_counter()
                    metrics = {key: float(np.mean(vals)) for key, vals in pending.items()}
                    metrics["charts/SPS"] = (state.step - last_log_step) / max(now - last_log_time, 1e-9)
                    metrics["charts/epsilon"] = agent.exploration.epsilon(state.step)
                    metrics["charts/updates"] = agent.updates
                    metrics["replay/size"] = len(replay)
                    beta = getattr(replay.sampler, "beta", None)
                    if beta is not None:
                        metrics["replay/beta"] = beta
                    metrics.update(agent.metrics())
                    loggers.log(state.step, metrics)
                    pending.clear()
                    last_log_step, last_log_time = state.step, now
                    state.next_log_step += log_every * ((state.step - state.next_log_step) // log_every + 1)

                if state.step >= state.next_eval_step:
                    result = self._evaluate(eval_envs, loggers)
                    state.next_eval_step += eval_every * ((state.step - state.next_eval_step) // eval_every + 1)
                    if stop_at is not None and result["mean"] >= float(stop_at):
                        log.info("eval return %.1f >= %.1f at step %d: stopping", result["mean"], stop_at, state.step)
                        stopped_early = True
                        break

            final = self._evaluate(eval_envs, loggers, prefix="final")
            if cfg.eval.get("video", False):
                self._record_video(loggers)
            wall = time.perf_counter() - start_time
            summary = {
                "final_eval": {k: v for k, v in final.items() if k != "returns"},
                "final_eval_returns": final["returns"],
                "eval/episodic_return": final["mean"],
                "eval/hns": final["hns"],
                "best_eval_return": state.best_eval,
                "solved_at_step": state.solved_at_step,
                "stopped_early": stopped_early,
                "steps": state.step,
                "frames": state.step * parts.env_maker.spec.frame_skip,
                "updates": agent.updates,
                "wall_time_s": wall,
                "sps": state.step / max(wall, 1e-9),
                "seed": self.seed,
                "env": str(cfg.env.get("id", cfg.env.name)),
                "run_name": str(cfg.run_name),
            }
            self._write_outputs(summary)
            return summary
        finally:
            envs.close()
            eval_envs.close()
            loggers.close()

    # --------------------------------------------------------------------------- helpers
    def _evaluate(self, eval_envs: Any, loggers: Any, prefix: str = "eval") -> dict[str, Any]:
        ecfg = self.cfg.eval
        state = self.state
        state.eval_count += 1
        result = evaluate(
            self.parts.agent,
            eval_envs,
            episodes=int(ecfg.episodes),
            epsilon=float(ecfg.epsilon),
            seed=self.seed + 100_000 + 1_000 * state.eval_count,
            max_steps=ecfg.get("max_steps"),
        )
        threshold = self.cfg.train.get("stop_at_eval_return")
        if threshold is not None and state.solved_at_step is None and result["mean"] >= float(threshold):
            state.solved_at_step = state.step
        state.best_eval = max(state.best_eval, result["mean"])
        result["hns"] = self._human_normalized(result["mean"])
        metrics = {
            "eval/episodic_return": result["mean"],
            "eval/episodic_return_std": result["std"],
            "eval/episodic_return_min": result["min"],
            "eval/episodic_return_max": result["max"],
            "eval/episodic_length": result["mean_length"],
            "eval/episodes": result["episodes"],
        }
        if result["hns"] is not None:
            metrics["eval/hns"] = result["hns"]
        if prefix == "final":
            metrics = {**metrics, **{k.replace("eval/", "final/"): v for k, v in metrics.items()}}
        self.parts.agent.online.train()
        loggers.log(state.step, metrics)
        return result

    def _human_normalized(self, score: float) -> float | None:
        """Human-normalised score for Atari-57 games (None for other envs or games)."""
        game = self.parts.env_maker.spec.game
        if game is None or not math.isfinite(score):
            return None
        from rlkit.analysis.hns import human_normalized_score

        try:
            return human_normalized_score(game, score)
        except ValueError:
            log.warning("no human/random reference scores for %s: eval/hns not logged", game)
            return None

    def _record_video(self, loggers: Any) -> None:
        """``eval.video_episodes`` evaluation episodes as ``videos/final.mp4`` (and to wandb)."""
        from rlkit.envs.video import record_episodes

        path = self.run_dir / "videos" / "final.mp4"
        returns = record_episodes(
            self.parts.agent,
            self.parts.env_maker,
            path,
            episodes=int(self.cfg.eval.get("video_episodes", 1)),
            epsilon=float(self.cfg.eval.epsilon),
            seed=self.seed + 200_000,
        )
        log.info("video of %d episode(s) (returns %s): %s", len(returns), returns, path)
        loggers.log_video(self.state.step, "eval/video", path)

    def _write_outputs(self, summary: dict[str, Any]) -> None:
        weights = {k: v.detach().cpu() for k, v in self.parts.agent.online.state_dict().items()}
        atomic_write(self.run_dir / "model.pt", lambda f: torch.save(weights, f), binary=True)
        atomic_write_json(self.run_dir / "summary.json", summary)
        try:
            from rlkit.analysis.curves import plot_learning_curve

            plot_learning_curve(
                self.run_dir / "metrics.jsonl", self.run_dir / "learning_curve.png", title=str(self.cfg.run_name)
            )
        except FileNotFoundError:
            log.warning("no metrics.jsonl (jsonl logger disabled?): learning curve not drawn")
        log.info("summary: %s", json.dumps({k: summary[k] for k in ("steps", "eval/episodic_return", "wall_time_s")}))


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train one run described by ``cfg`` into ``run_dir``; returns the summary."""
    return Trainer(cfg, run_dir).train()
