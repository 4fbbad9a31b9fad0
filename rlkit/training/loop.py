"""The training loop: act in vector envs, store n-step transitions, learn, evaluate, log.

Time is counted in agent steps (one action in one env); a vector step over E envs is E steps.
Bootstrapping follows gymnasium's two flags: a *terminated* episode ends the return with no
bootstrap; a *truncated* one (time limit) bootstraps from its real last observation.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rlkit import registry
from rlkit.agents.dqn import NonFiniteLossError
from rlkit.envs.state import load_vector_env_state, vector_env_state
from rlkit.logging import build_loggers
from rlkit.training import checkpoint as ckpt
from rlkit.training.builder import Parts, build_parts, import_user_modules
from rlkit.training.episodes import EpisodeTracker, game_over
from rlkit.training.evaluate import EvaluationInterrupted, evaluate
from rlkit.training.files import atomic_write, atomic_write_json, truncate_metrics
from rlkit.training.resume import finished_run
from rlkit.utils.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from rlkit.utils.threads import ThreadGovernor, configure_threads, forward_flops

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
    # seconds over the whole run (all sessions): wall = training + evaluation + checkpoint writing
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    eval_time_s: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class Preempted(Exception):
    """The run stopped on a signal after writing a checkpoint; exit with :attr:`exit_code`."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum  # the shell's convention: 130 SIGINT, 138 SIGUSR1, 143 SIGTERM
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}; checkpoint: {checkpoint}; exit status {self.exit_code}")


# SIGUSR2 is what submitit sends before a SLURM time limit; its own handler (requeue) runs after the checkpoint.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)
_DEFAULT_HANDLERS = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None)


class Trainer:
    """Owns the parts of one run and drives them for ``train.steps`` agent steps.

    Checkpoints (``checkpoint.every`` agent steps, on SIGTERM/SIGINT/SIGUSR1, see
    :mod:`rlkit.training.checkpoint`) hold everything the loop needs to go on. With ``resume=auto``
    a run directory that has checkpoints continues from the newest one; on CPU the continuation is
    bit-identical to an uninterrupted run when the envs can be captured (in-process gymnasium envs).
    Episodes in flight at the checkpoint continue exactly then; where the simulator cannot be
    captured (ale-py's vector env) the resumed run starts new episodes: the unfinished episodes'
    returns are not reported and their last, incomplete n-step transitions are dropped.
    """

    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        import_user_modules(list(cfg.get("imports") or []))
        seed_everything(int(cfg.seed))
        self.device = resolve_device(str(cfg.device))
        self.parts: Parts = build_parts(cfg, self.device)
        self.governor = self._configure_threads(cfg.torch_threads)
        self.total_steps = int(cfg.train.steps)
        self.seed = int(cfg.seed)
        self.tracker = EpisodeTracker(self.parts.env_maker.num_envs)
        eval_every = int(cfg.eval.every_steps)
        self.state = LoopState(
            next_update_step=max(int(cfg.train.learning_starts_steps), int(cfg.agent.batch_size)),
            next_log_step=int(cfg.train.log_every_steps),
            next_eval_step=eval_every if eval_every > 0 else math.inf,
        )
        ccfg = cfg.get("checkpoint") or {}
        self.checkpoint_every = int(ccfg.get("every", 0) or 0)
        self.keep_last = int(ccfg.get("keep_last", 2))
        self.checkpoint_replay = bool(ccfg.get("replay", True))
        self.keep_after_finish = bool(ccfg.get("keep_after_finish", False))
        stop_at = cfg.train.get("stop_at_eval_return")
        # the eval return that counts as solved: the stop threshold, else the env's registered one
        self.solved_threshold = float(stop_at) if stop_at is not None else self.parts.env_maker.spec.reward_threshold
        if stop_at is not None and int(cfg.eval.every_steps) == 0:
            log.warning("train.stop_at_eval_return=%s has no effect: eval.every_steps=0 runs no periodic evaluation",
                        stop_at)
        self._mark = time.perf_counter()
        self._paused_s = 0.0  # evaluation and checkpoint seconds since the last _account()
        self.next_checkpoint_step = self.checkpoint_every if self.checkpoint_every > 0 else math.inf
        self.last_checkpoint: Path | None = None
        self.stop_signal: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._pending: dict[str, list[float]] = defaultdict(list)

    def _configure_threads(self, setting: int | str) -> ThreadGovernor | None:
        """Torch threads for this run (:mod:`rlkit.utils.threads`); with ``auto``, a governor that
        gives threads back to other processes while they keep cores busy."""
        if setting != "auto":
            configure_threads(setting)
            return None
        spec = self.parts.env_maker.spec
        work = forward_flops(copy.deepcopy(self.parts.agent.online), spec.obs_shape, int(self.cfg.agent.batch_size))
        threads = configure_threads(setting, work_flops=work)
        governor = ThreadGovernor(threads) if self.device.type == "cpu" else None
        return governor if governor is not None and governor.active else None

    # ------------------------------------------------------------------------- checkpoints
    def compat(self) -> dict[str, Any]:
        """Settings a checkpoint must share with the run that loads it."""
        cfg, spec = self.cfg, self.parts.env_maker.spec
        return {
            "env": str(cfg.env.get("id", cfg.env.get("name"))),
            "obs_shape": list(spec.obs_shape),
            "obs_dtype": np.dtype(spec.obs_dtype).name,
            "num_actions": int(spec.num_actions),
            "num_envs": int(self.parts.env_maker.num_envs),
            "network": self._network_identity(),
            "replay.storage": OmegaConf.to_container(cfg.replay.storage, resolve=True),
            "replay.sampler": str(cfg.replay.sampler.name),
            "replay.capacity": int(cfg.replay.capacity),
            "agent.n_step": int(cfg.agent.n_step),
            "agent.gamma": float(cfg.agent.gamma),
        }

    def _network_identity(self) -> dict[str, Any]:
        """The network's config with each part's default-valued arguments left out, so a checkpoint
        still fits after a version that adds arguments (defaulting to the old behaviour) to a part."""
        network = OmegaConf.to_container(self.cfg.network, resolve=True)
        assert isinstance(network, dict)
        for part in ("torso", "head", "layer"):
            if isinstance(network.get(part), dict):
                network[part] = registry.without_defaults(f"network/{part}", network[part])
        return network

    def state_dict(self, *, obs: np.ndarray | None = None, envs: Any = None, loggers: Any = None) -> dict[str, Any]:
        """Everything a resumed run needs: counters, parts, RNGs, env states, logger states."""
        state: dict[str, Any] = {
            "compat": self.compat(),
            "torch": {"agent": self.parts.agent.state_dict()},
            "loop": self.state.state_dict(),
            "next_checkpoint_step": self.next_checkpoint_step,
            "episodes": self.tracker.state_dict(),
            "pending_metrics": {key: list(values) for key, values in self._pending.items()},
            "rng": rng_state(),
            "loggers": loggers.state_dict() if loggers is not None else {},
            "obs": obs,
            "env": vector_env_state(envs) if envs is not None else None,
        }
        if self.checkpoint_replay:
            state["replay"] = self.parts.replay.state_dict()
        return state

    def save_checkpoint(self, *, obs: np.ndarray, envs: Any, loggers: Any) -> Path:
        self._account()
        start = time.perf_counter()
        state = self.state_dict(obs=obs, envs=envs, loggers=loggers)
        path = ckpt.save_checkpoint(self.run_dir, self.state.step, state, keep_last=self.keep_last)
        self.last_checkpoint = path
        seconds = time.perf_counter() - start
        self._paused_s += seconds
        log.info("checkpoint at step %d: %s (%.1f s)", self.state.step, path, seconds)
        return path

    def _account(self) -> float:
        """Move the time since the last call into the run's clocks; returns its training seconds
        (wall time less evaluation and checkpoint writing)."""
        now = time.perf_counter()
        wall = now - self._mark
        train_s = max(wall - self._paused_s, 0.0)
        self.state.wall_time_s += wall
        self.state.train_time_s += train_s
        self._mark, self._paused_s = now, 0.0
        return train_s

    def _resume_point(self) -> ckpt.CheckpointInfo | None:
        setting = str(self.cfg.get("resume", "auto") or "auto")
        if setting == "never":
            return None
        if setting == "auto":
            ckpt.remove_partial(self.run_dir)
            return ckpt.latest_checkpoint(self.run_dir)
        return ckpt.find_checkpoint(Path(setting))

    def _restore(self, info: ckpt.CheckpointInfo) -> dict[str, Any]:
        """Load checkpoint ``info`` into the parts and counters; returns its env-side entries."""
        saved = ckpt.load_checkpoint(info.path)
        ckpt.check_compatible(saved["compat"], self.compat(), source=info.path)
        agent = self.parts.agent
        try:
            agent.load_state_dict(saved["torch"]["agent"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise ckpt.CheckpointError(f"checkpoint {info.path} does not fit this agent: {err}") from err
        if "replay" in saved:
            self.parts.replay.load_state_dict(saved["replay"])
        else:
            log.warning("checkpoint %s holds no replay (checkpoint.replay=false): replay starts empty", info.path)
        self.state.load_state_dict(saved["loop"])
        self.next_checkpoint_step = saved["next_checkpoint_step"]
        self.tracker.load_state_dict(saved["episodes"])
        self._pending = defaultdict(list, {k: list(v) for k, v in saved["pending_metrics"].items()})
        set_rng_state(saved["rng"])
        self.last_checkpoint = info.path
        return saved

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT/SIGUSR1/SIGUSR2 ask the loop to checkpoint and stop; a second one aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: Any) -> None:
            if self.stop_signal is not None:
                raise KeyboardInterrupt(f"second signal ({signal.Signals(signum).name}): aborting")
            self.stop_signal = signum
            log.warning(
                "%s received: finishing this step, writing a checkpoint and exiting (send again to abort)",
                signal.Signals(signum).name,
            )

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        self._previous_handlers = previous
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _stop(self, path: Path) -> None:
        """After the stop checkpoint: hand the signal to a handler installed before ours (submitit's
        requeue on SIGUSR2), then stop with :class:`Preempted` if that handler returned."""
        signum = int(self.stop_signal)
        previous = self._previous_handlers.get(signum)
        if callable(previous) and previous not in _DEFAULT_HANDLERS:
            log.info("passing %s on to the handler installed before rlkit's", signal.Signals(signum).name)
            previous(signum, None)
        raise Preempted(signum, path)

    # ------------------------------------------------------------------------------ main
    def train(self) -> dict[str, Any]:
        done = finished_run(self.run_dir, self.cfg) if str(self.cfg.get("resume", "auto")) != "never" else None
        if done is not None:
            log.info("%s already holds a finished run (%s steps): nothing to do", self.run_dir, done.get("steps"))
            return done
        resume_from = self._resume_point()
        saved = self._restore(resume_from) if resume_from is not None else None
        if saved is not None:
            # a killed run may have logged past its checkpoint; the resumed run logs those steps again
            truncate_metrics(self.run_dir / "metrics.jsonl", resume_from.step)
            log.info("resuming from %s (step %d)", resume_from.path, resume_from.step)
        cfg, parts = self.cfg, self.parts
        resolved = OmegaConf.to_container(cfg, resolve=True)
        atomic_write(self.run_dir / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg, resolve=True)))
        loggers = build_loggers(
            cfg.logger, run_dir=self.run_dir, total_steps=self.total_steps, run_name=str(cfg.run_name)
        )
        envs = eval_envs = None
        status, detail = "failed", ""
        try:
            if saved is not None:
                loggers.load_state_dict(saved["loggers"])
            loggers.log_config(resolved)
            envs = parts.env_maker.make_train(seed=self.seed)
            eval_envs = parts.env_maker.make_eval(num_envs=int(cfg.eval.num_envs), seed=self.seed + 100_000)
            obs = self._start_envs(envs, saved)
            saved = None  # let memory-mapped checkpoint arrays go
            with self._stop_on_signals():
                summary = self._run(envs, eval_envs, obs, loggers)
            status = "finished"
            return summary
        except Preempted as stop:
            status, detail = "stopped", f"by {signal.Signals(stop.signum).name}; checkpoint {stop.checkpoint}"
            raise
        except BaseException as err:
            detail = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            raise
        finally:
            for vec in (envs, eval_envs):
                if vec is not None:
                    vec.close()
            try:
                loggers.end_run(status, self.state.step, detail)
            finally:
                loggers.close()

    def _start_envs(self, envs: Any, saved: dict[str, Any] | None) -> np.ndarray:
        """First observations: a seeded reset, or the checkpoint's envs and observations."""
        num_envs = envs.num_envs
        if saved is None:
            obs, _ = envs.reset(seed=[self.seed + i for i in range(num_envs)])
            return obs
        step = self.state.step
        obs, _ = envs.reset(seed=[self.seed + 7_919 * (step + 1) + i for i in range(num_envs)])
        if saved.get("env") is not None and saved.get("obs") is not None:
            load_vector_env_state(envs, saved["env"])
            return np.array(saved["obs"])
        # The simulators could not be saved: new episodes start here. Drop what the old ones left
        # unfinished (their returns and their incomplete n-step windows).
        log.warning("envs restarted on resume: %d unfinished episode(s) dropped from the statistics", num_envs)
        self.tracker = EpisodeTracker(num_envs)
        self.parts.replay.restart_episodes()
        return obs

    def _run(self, envs: Any, eval_envs: Any, obs: np.ndarray, loggers: Any) -> dict[str, Any]:
        cfg, parts = self.cfg, self.parts
        agent, replay = parts.agent, parts.replay
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

        pending = self._pending
        self._mark, self._paused_s = time.perf_counter(), 0.0
        start_step = last_log_step = state.step
        stopped_early = False
        governor = self.governor
        while state.step < self.total_steps:
            if governor is not None:
                governor.poll()
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
                    try:
                        out = agent.update(batch)
                    except NonFiniteLossError as err:
                        raise NonFiniteLossError(
                            f"{err}, at agent step {state.step}. The run stops; the last good checkpoint is "
                            f"{self.last_checkpoint or 'none (no checkpoint written yet)'} and was not touched. "
                            "Try a lower optim.lr, gradient clipping (agent.max_grad_norm) or reward clipping."
                        ) from err
                    replay.update_priorities(batch.indices, out.priorities)
                    for key, value in out.metrics.items():
                        pending[key].append(value)
                state.next_update_step += update_every
            if state.step >= learning_starts:
                agent.maybe_sync_target(state.step)

            if state.step >= state.next_log_step:
                train_s = self._account()
                metrics = {key: float(np.mean(vals)) for key, vals in pending.items()}
                # training steps per second of training time: evaluations and checkpoints excluded
                metrics["charts/SPS"] = (state.step - last_log_step) / max(train_s, 1e-9)
                metrics["charts/epsilon"] = agent.exploration.epsilon(state.step)
                metrics["charts/updates"] = agent.updates
                metrics["replay/size"] = len(replay)
                beta = getattr(replay.sampler, "beta", None)
                if beta is not None:
                    metrics["replay/beta"] = beta
                metrics.update(agent.metrics())
                loggers.log(state.step, metrics)
                pending.clear()
                last_log_step = state.step
                state.next_log_step += log_every * ((state.step - state.next_log_step) // log_every + 1)

            if state.step >= state.next_eval_step and self.stop_signal is None:
                try:
                    result = self._evaluate(eval_envs, loggers)
                except EvaluationInterrupted:
                    pass  # a stop signal came mid-evaluation: it runs again after the resume
                else:
                    state.next_eval_step += eval_every * ((state.step - state.next_eval_step) // eval_every + 1)
                    if stop_at is not None and result["mean"] >= float(stop_at):
                        final = self._confirm_solved(eval_envs, loggers, result, float(stop_at))
                        if final is not None:
                            stopped_early = True
                            break

            if self.stop_signal is not None:
                self._stop(self.save_checkpoint(obs=obs, envs=envs, loggers=loggers))
            if state.step >= self.next_checkpoint_step:
                every = self.checkpoint_every
                self.next_checkpoint_step += every * ((state.step - self.next_checkpoint_step) // every + 1)
                self.save_checkpoint(obs=obs, envs=envs, loggers=loggers)

        if not stopped_early:
            final = self._evaluate(eval_envs, loggers, prefix="final", interruptible=False)
        if cfg.eval.get("video", False):
            self._record_video(loggers)
        self._account()
        summary = {
            "final_eval": {k: v for k, v in final.items() if k != "returns"},
            "final_eval_returns": final["returns"],
            "eval/episodic_return": final["mean"],
            "eval/hns": final["hns"],
            "best_eval_return": state.best_eval,
            "solved_at_step": state.solved_at_step,
            "solved_threshold": self.solved_threshold,
            "stopped_early": stopped_early,
            "steps": state.step,
            "frames": state.step * parts.env_maker.spec.frame_skip,
            "updates": agent.updates,
            "wall_time_s": state.wall_time_s,
            "train_time_s": state.train_time_s,
            "eval_time_s": state.eval_time_s,
            "sps": state.step / max(state.train_time_s, 1e-9),  # training steps per second of training time
            "resumed_from_step": start_step or None,
            "seed": self.seed,
            "env": str(cfg.env.get("id", cfg.env.name)),
            "run_name": str(cfg.run_name),
        }
        self._write_outputs(summary)
        if not self.keep_after_finish:
            removed = ckpt.remove_checkpoints(self.run_dir)
            if removed:
                log.info("removed %d checkpoint(s) of the finished run; model.pt holds its final weights "
                         "(checkpoint.keep_after_finish=true keeps them)", removed)
        return summary

    # --------------------------------------------------------------------------- helpers
    def _evaluate(
        self, eval_envs: Any, loggers: Any, prefix: str = "eval", *, interruptible: bool = True
    ) -> dict[str, Any]:
        """Evaluate (``eval.episodes``; ``eval.final_episodes`` for the final one) and log it."""
        result = self._run_evaluation(eval_envs, final=prefix == "final", interruptible=interruptible)
        self._log_evaluation(loggers, result, prefix)
        return result

    def _run_evaluation(self, eval_envs: Any, *, final: bool, interruptible: bool = True) -> dict[str, Any]:
        ecfg, state = self.cfg.eval, self.state
        episodes = int(ecfg.episodes)
        if final and ecfg.get("final_episodes") is not None:
            episodes = int(ecfg.final_episodes)
        start = time.perf_counter()
        result = evaluate(
            self.parts.agent,
            eval_envs,
            episodes=episodes,
            epsilon=float(ecfg.epsilon),
            seed=self.seed + 100_000 + 1_000 * (state.eval_count + 1),
            max_steps=ecfg.get("max_steps"),
            should_stop=(lambda: self.stop_signal is not None) if interruptible else None,
        )
        self.parts.agent.online.train()
        result["wall_time_s"] = seconds = time.perf_counter() - start
        self._paused_s += seconds
        state.eval_time_s += seconds
        state.eval_count += 1
        threshold = self.solved_threshold
        if threshold is not None and state.solved_at_step is None and result["mean"] >= threshold:
            state.solved_at_step = state.step
        state.best_eval = max(state.best_eval, result["mean"])
        result["hns"] = self._human_normalized(result["mean"])
        return result

    def _log_evaluation(self, loggers: Any, result: dict[str, Any], prefix: str) -> None:
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

    def _confirm_solved(self, eval_envs: Any, loggers: Any, result: dict[str, Any],
                        threshold: float) -> dict[str, Any] | None:
        """A periodic evaluation reached ``threshold``: evaluate again on ``eval.final_episodes`` episodes
        (new seeds). If that confirms it, it is the run's final evaluation (returned) and the run stops;
        else training goes on. A 10-episode mean is noisy: a CartPole policy that scored 484 on 10
        episodes scored 466 on 100 (measured), and gymnasium's "solved" is a 100-episode mean >= 475."""
        step = self.state.step
        if self.cfg.eval.get("final_episodes") in (None, self.cfg.eval.episodes):
            log.info("eval return %.1f >= %.1f at step %d: stopping", result["mean"], threshold, step)
            return self._evaluate(eval_envs, loggers, prefix="final", interruptible=False)
        confirm = self._run_evaluation(eval_envs, final=True, interruptible=False)
        confirmed = confirm["mean"] >= threshold
        self._log_evaluation(loggers, confirm, "final" if confirmed else "confirm")
        log.info("eval return %.1f >= %.1f at step %d; on %d episodes %.1f: %s", result["mean"], threshold, step,
                 confirm["episodes"], confirm["mean"], "stopping" if confirmed else "not confirmed, training goes on")
        return confirm if confirmed else None

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
