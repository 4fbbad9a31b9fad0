"""The training loop: act in vector envs, store n-step transitions, learn, evaluate, log.

Time is counted in agent steps (one action in one env); a vector step over E envs is E steps.
Bootstrapping follows gymnasium's two flags: a *terminated* episode ends the return with no
bootstrap; a *truncated* one (time limit) bootstraps from its real last observation.

The loop's helpers each have a module: :mod:`~rlkit.training.cadence` (every-N-steps schedules),
:mod:`~rlkit.training.run_state` (counters and clocks), :mod:`~rlkit.training.run_checkpoints`
(checkpoint contents and resuming), :mod:`~rlkit.training.signals` (stop signals),
:mod:`~rlkit.training.evaluator` (evaluations during the run), :mod:`~rlkit.training.outputs`
(the files of a finished run), :mod:`~rlkit.training.stepping` (synchronous or pipelined acting) and
:mod:`~rlkit.training.learner_thread` (the learner in a thread beside the loop, ``train.learner_thread``).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import signal
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rlkit.agents.dqn import LOSS_METRIC, NonFiniteLossError, non_finite_message
from rlkit.envs.state import load_vector_env_state
from rlkit.logging import build_loggers
from rlkit.training.builder import Parts, build_parts, import_user_modules
from rlkit.training.cadence import Cadence
from rlkit.training.device_metrics import DeviceMetrics
from rlkit.training.episodes import EpisodeTracker, game_over
from rlkit.training.evaluate import EvaluationInterrupted
from rlkit.training.evaluator import Evaluator
from rlkit.training.learner_thread import LearnerThread
from rlkit.training.outputs import record_video, run_summary, write_outputs
from rlkit.training.resume import finished_run
from rlkit.training.run_checkpoints import RunCheckpoints
from rlkit.training.run_state import LoopState, RunClock
from rlkit.training.signals import STOP_SIGNALS, Preempted, StopSignals
from rlkit.training.stepping import make_stepper
from rlkit.types import Batch, LossOutput
from rlkit.utils.files import atomic_write, truncate_metrics
from rlkit.utils.runtime import resolve_device, seed_everything
from rlkit.utils.threads import ThreadGovernor, configure_threads, forward_flops

__all__ = ["STOP_SIGNALS", "LoopState", "Preempted", "Trainer", "real_next_obs", "train"]

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
        self.state = LoopState(
            update=Cadence(int(cfg.train.update_every_steps),
                           first=max(int(cfg.train.learning_starts_steps), int(cfg.agent.batch_size))),
            log=Cadence(int(cfg.train.log_every_steps)),
            evaluation=Cadence(int(cfg.eval.every_steps)),
        )
        self.clock = RunClock()
        self.checkpoints = RunCheckpoints(cfg, self.parts, self.run_dir, self.clock)
        self.signals = StopSignals()
        stop_at = cfg.train.get("stop_at_eval_return")
        # the eval return that counts as solved: the stop threshold, else the env's registered one
        self.solved_threshold = float(stop_at) if stop_at is not None else self.parts.env_maker.spec.reward_threshold
        if stop_at is not None and int(cfg.eval.every_steps) == 0:
            log.warning("train.stop_at_eval_return=%s has no effect: eval.every_steps=0 runs no periodic evaluation",
                        stop_at)
        self.evaluator = Evaluator(
            cfg, self.parts.agent, game=self.parts.env_maker.spec.game, seed=self.seed, state=self.state,
            clock=self.clock, solved_threshold=self.solved_threshold,
            should_stop=lambda: self.signals.received is not None,
        )
        self._pending: defaultdict[str, list[float]] = defaultdict(list)  # learner metrics since the last log
        self._device_metrics = DeviceMetrics()  # sync-free updates' metrics, moved to _pending at logs and checkpoints
        self.stepper: Any = None  # how the loop steps its envs (rlkit.training.stepping), made with them in train()
        self.learner: LearnerThread | None = None  # train.learner_thread: the learner's thread, while _run runs
        # the replay is shared with the learner thread: inserts, samples and priority updates take turns
        self._replay_lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._target_checked = 0  # the last agent step at which the target schedule was checked
        # read once: _check_target runs every step and _learner_work every cycle (OmegaConf reads cost microseconds)
        self._learning_starts = int(cfg.train.learning_starts_steps)
        self._batch_size, self._updates_per_cycle = int(cfg.agent.batch_size), int(cfg.train.updates_per_cycle)
        self._num_envs = int(self.parts.env_maker.num_envs)
        self._learner_threads = 1  # learner thread: its torch threads (the run's; the governor's when it has one)

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

    def compat(self) -> dict[str, Any]:
        """Settings a checkpoint must share with the run that loads it."""
        return self.checkpoints.compat()

    def state_dict(self, *, obs: np.ndarray | None = None, envs: Any = None, loggers: Any = None,
                   in_flight: np.ndarray | None = None) -> dict[str, Any]:
        """Everything a resumed run needs: counters, parts, RNGs, env states, logger states."""
        self._catch_up_learner()
        self._collect_device_metrics()
        return self.checkpoints.state_dict(self.state, self.tracker, self._pending, obs=obs, envs=envs,
                                           loggers=loggers, in_flight=in_flight)

    def _save_checkpoint(self, *, obs: np.ndarray, envs: Any, loggers: Any) -> Path:
        self._catch_up_learner()
        self._collect_device_metrics()  # a skipped non-finite update stops the run before a checkpoint keeps it
        return self.checkpoints.save(self.state, self.tracker, self._pending, obs=obs, envs=envs, loggers=loggers,
                                     in_flight=None if self.stepper is None else self.stepper.in_flight())

    # ------------------------------------------------------------------------------ main
    def train(self) -> dict[str, Any]:
        done = finished_run(self.run_dir, self.cfg) if str(self.cfg.get("resume", "auto")) != "never" else None
        if done is not None:
            log.info("%s already holds a finished run (%s steps): nothing to do", self.run_dir, done.get("steps"))
            return done
        resume_from = self.checkpoints.resume_point()
        saved = None
        if resume_from is not None:
            saved = self.checkpoints.restore(resume_from, self.state, self.tracker, self._pending)
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
            envs, self.stepper = make_stepper(
                parts.agent, parts.env_maker, seed=self.seed,
                pipeline=bool(cfg.train.get("pipeline", False)), groups=int(cfg.train.get("pipeline_groups", 1)),
            )
            eval_envs = parts.env_maker.make_eval(num_envs=int(cfg.eval.num_envs), seed=self.seed + 100_000)
            obs = self._start_envs(envs, saved)
            saved = None  # let memory-mapped checkpoint arrays go
            with self.signals.installed():
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
            self.stepper.restore_in_flight(saved.get("in_flight"))  # a pipelined run's next step, as it was
            return np.array(saved["obs"])
        # The simulators could not be saved: new episodes start here. Drop what the old ones left
        # unfinished (their returns and their incomplete n-step windows).
        log.warning("envs restarted on resume: %d unfinished episode(s) dropped from the statistics", num_envs)
        self.tracker = EpisodeTracker(num_envs)
        self.parts.replay.restart_episodes()
        return obs

    def _run(self, envs: Any, eval_envs: Any, obs: np.ndarray, loggers: Any) -> dict[str, Any]:
        """Step until ``train.steps`` (or a confirmed solve), then the final evaluation and the outputs;
        with ``train.learner_thread``, the learner runs in its thread meanwhile."""
        self.clock.restart()
        self._target_checked = self.state.step
        if self.cfg.train.get("learner_thread", False):
            self._start_learner_thread()
        try:
            return self._steps(envs, eval_envs, obs, loggers)
        finally:
            if self.learner is not None:
                self.learner.close()
                self.learner, self._replay_lock = None, contextlib.nullcontext()
                torch.set_num_threads(self._learner_threads)
                if self.governor is not None:
                    self.governor.set_threads = torch.set_num_threads

    def _start_learner_thread(self) -> None:
        """The learner's thread, with the run's torch threads; the acting thread keeps one (its batches
        are a few observations) so the two do not crowd the cores. The governor, if any, steers the
        learner's count. Torch's thread count is per thread here (OpenMP), set by each for itself."""
        self._learner_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # this (the acting) thread; the learner sets its own in _learner_work
        if self.governor is not None:
            self.governor.set_threads = lambda threads: setattr(self, "_learner_threads", threads)
        self.learner = LearnerThread(self._learner_work, max_lag=int(self.cfg.train.get("learner_max_lag", 1)))
        self._replay_lock = threading.Lock()

    def _steps(self, envs: Any, eval_envs: Any, obs: np.ndarray, loggers: Any) -> dict[str, Any]:
        cfg, parts = self.cfg, self.parts
        agent, replay = parts.agent, parts.replay
        num_envs = envs.num_envs
        tracker, state, evaluator = self.tracker, self.state, self.evaluator
        updates_per_cycle = int(cfg.train.updates_per_cycle)
        stop_at = cfg.train.get("stop_at_eval_return")
        batch_size = int(cfg.agent.batch_size)
        reward_clip = parts.env_maker.spec.reward_clip
        start_step = last_log_step = state.step
        stopped_early = False
        governor, stepper, learner = self.governor, self.stepper, self.learner
        while state.step < self.total_steps:
            if governor is not None:
                governor.poll()
            actions, (next_obs, rewards, terminated, truncated, info) = stepper.step(obs, state.step)
            final_obs = real_next_obs(next_obs, info)
            learner_rewards = rewards if reward_clip is None else np.clip(rewards, -reward_clip, reward_clip)
            obs_now, obs = obs, next_obs
            state.step += num_envs
            with self._replay_lock:
                replay.add_step(obs_now, actions, learner_rewards, final_obs, terminated, truncated)
                replay.set_progress(state.step / self.total_steps)
            for _, ret, length in tracker.step(rewards, game_over(info, terminated, truncated)):
                loggers.log(state.step, {"charts/episodic_return": ret, "charts/episodic_length": length})

            cycles = 0  # update cycles due at this step
            while state.update.due(state.step) and len(replay) >= batch_size:
                cycles += 1
                state.update.advance()
            if learner is not None:
                if cycles:
                    learner.submit(state.step, cycles)
            else:
                for _ in range(cycles):
                    self._update_cycle(batch_size, updates_per_cycle, state.step)
                self._check_target(state.step)

            if state.log.due(state.step):
                self._catch_up_learner()
                train_s = self.clock.account(state)
                loggers.log(state.step, self._training_metrics(state.step - last_log_step, train_s))
                self._pending.clear()
                last_log_step = state.step
                state.log.advance_past(state.step)

            if state.evaluation.due(state.step) and self.signals.received is None:
                self._catch_up_learner()  # evaluate the weights the synchronous loop would have here
                try:
                    result = evaluator.evaluate(eval_envs, loggers)
                except EvaluationInterrupted:
                    pass  # a stop signal came mid-evaluation: it runs again after the resume
                else:
                    state.evaluation.advance_past(state.step)
                    if stop_at is not None and result["mean"] >= float(stop_at):
                        final = evaluator.confirm_solved(eval_envs, loggers, result, float(stop_at))
                        if final is not None:
                            stopped_early = True
                            break

            if self.signals.received is not None:
                self.signals.stop(self._save_checkpoint(obs=obs, envs=envs, loggers=loggers))
            if self.checkpoints.cadence.due(state.step):
                self.checkpoints.cadence.advance_past(state.step)
                self._save_checkpoint(obs=obs, envs=envs, loggers=loggers)

        self._catch_up_learner()
        self._collect_device_metrics()  # a non-finite update since the last log stops the run here
        if not stopped_early:
            final = evaluator.evaluate(eval_envs, loggers, prefix="final", interruptible=False)
        if cfg.eval.get("video", False):
            record_video(agent, parts.env_maker, self.run_dir, cfg, seed=self.seed, step=state.step, loggers=loggers)
        self.clock.account(state)
        summary = run_summary(
            cfg, state, final, stopped_early=stopped_early, solved_threshold=self.solved_threshold,
            frame_skip=parts.env_maker.spec.frame_skip, updates=agent.updates, start_step=start_step, seed=self.seed,
        )
        write_outputs(self.run_dir, agent, summary, run_name=str(cfg.run_name))
        self.checkpoints.remove_after_finish()
        return summary

    def _check_target(self, step: int) -> None:
        """The target schedule, checked at each vector step after the last checked one up to ``step``
        (learning started), as the synchronous loop checks it after each step's updates."""
        num_envs = self._num_envs
        for at in range(self._target_checked + num_envs, step + 1, num_envs):
            if at >= self._learning_starts:
                self.parts.agent.maybe_sync_target(at)
        self._target_checked = max(self._target_checked, step)

    def _learner_work(self, step: int, cycles: int) -> None:
        """The learner thread's share of vector step ``step``: the target checks of the steps since its
        last cycle, the cycles, this step's target check, then the new weights to the actor."""
        if torch.get_num_threads() != self._learner_threads:
            torch.set_num_threads(self._learner_threads)
        self._check_target(step - self._num_envs)
        for _ in range(cycles):
            self._update_cycle(self._batch_size, self._updates_per_cycle, step)
        self._check_target(step)
        self.parts.agent.publish()

    def _catch_up_learner(self) -> None:
        """Learner thread: wait for every cycle due so far, then check the target schedule up to now;
        the loop's state is then as the synchronous loop's. No-op without a learner thread."""
        if self.learner is None:
            return
        self.learner.drain()
        self._check_target(self.state.step)

    def _update_cycle(self, batch_size: int, updates: int, step: int) -> None:
        """``updates`` learner updates due at agent step ``step``, each on a fresh batch; their metrics
        wait for the next log.

        With sync-free updates (``agent.sync_free``) nothing here waits for the device, except the
        transfer of PER priorities to the host's sum tree (one per update, prioritized replay only).
        """
        agent, replay = self.parts.agent, self.parts.replay
        for _ in range(updates):
            with self._replay_lock:
                batch = replay.sample(batch_size, self.device, non_blocking=agent.sync_free)
            try:
                out = agent.update(batch)
            except NonFiniteLossError as err:
                raise self._non_finite(str(err), step) from err
            if agent.sync_free:
                self._send_priorities(batch, out, step)
                self._device_metrics.add(out.metrics, update=agent.updates, step=step)
                continue
            with self._replay_lock:
                replay.update_priorities(batch.indices, out.priorities)
            for key, value in out.metrics.items():
                self._pending[key].append(value)

    def _non_finite(self, detail: str, step: int, note: str = "") -> NonFiniteLossError:
        """The error that stops a run whose loss became NaN/inf at agent step ``step``."""
        return NonFiniteLossError(
            f"{detail}, at agent step {step}. The run stops; the last good checkpoint is "
            f"{self.checkpoints.last or 'none (no checkpoint written yet)'} and was not touched. "
            f"Try a lower optim.lr, gradient clipping (agent.max_grad_norm) or reward clipping.{note}"
        )

    def _send_priorities(self, batch: Batch, out: LossOutput, step: int) -> None:
        """Sync-free PER: priorities and the loss in one transfer (none for uniform replay); a
        non-finite loss stops the run at once, its optimiser step already cancelled on the device."""
        replay = self.parts.replay
        if not replay.uses_priorities:
            return
        host = torch.cat([out.priorities.detach().double(), out.metrics[LOSS_METRIC].double().reshape(1)]).cpu()
        values = host.numpy()  # [B + 1]: priorities, then the loss
        if not math.isfinite(values[-1]):
            update = self.parts.agent.updates
            raise self._non_finite(non_finite_message(float(values[-1]), update), step)
        with self._replay_lock:
            replay.update_priorities(batch.indices, values[:-1])

    def _collect_device_metrics(self) -> None:
        """Sync-free updates: read their metrics into the pending ones (one sync); stop at a non-finite loss."""
        rows = self._device_metrics.drain()
        if not rows.values:
            return
        loss = rows.names.index(LOSS_METRIC)
        for values, update, step in zip(rows.values, rows.updates, rows.steps, strict=True):
            if not math.isfinite(values[loss]):
                note = (f" (Sync-free updates: found at agent step {self.state.step}, when the metrics were read; "
                        "this update and any later non-finite one were skipped and changed nothing.)")
                raise self._non_finite(non_finite_message(values[loss], update), step, note)
            for key, value in zip(rows.names, values, strict=True):
                self._pending[key].append(value)

    def _training_metrics(self, steps: int, train_s: float) -> dict[str, float]:
        """The learner metrics since the last log (means) and the loop's charts."""
        self._collect_device_metrics()
        agent, replay = self.parts.agent, self.parts.replay
        metrics = {key: float(np.mean(vals)) for key, vals in self._pending.items()}
        # training steps per second of training time: evaluations and checkpoints excluded
        metrics["charts/SPS"] = steps / max(train_s, 1e-9)
        metrics["charts/epsilon"] = agent.exploration.epsilon(self.state.step)
        metrics["charts/updates"] = agent.updates
        metrics["replay/size"] = len(replay)
        beta = getattr(replay.sampler, "beta", None)
        if beta is not None:
            metrics["replay/beta"] = beta
        metrics.update(agent.metrics())
        if self.learner is not None:
            metrics.update(self.learner.take_times())
        return metrics


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train one run described by ``cfg`` into ``run_dir``; returns the summary."""
    return Trainer(cfg, run_dir).train()
