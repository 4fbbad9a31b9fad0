"""Shared parts of the end-to-end benchmarks (``e2e_sb3.py``, ``e2e_bound.py``).

Each measurement runs in its own subprocess (a *worker*: the benchmark script itself with ``--worker``),
so torch's thread settings, allocator state and resident memory never leak from one side to the other.
A worker prints one ``RESULT {json}`` line; the parent alternates the sides' workers over rounds and
reports medians. Speeds count agent steps from the moment learning starts to the last env step
(:class:`StepClock`), so the warm-up, set-up and the final evaluation are left out on every side alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "RESULT "
SKIPPED_EXIT = 77  # a benchmark whose optional comparison library is missing (run_all records it as skipped)
ONE_MILLION = 1_000_000

# rlkit-train overrides that make a run's extras negligible: no periodic evaluation, a final one of one
# agent step, no checkpoints, no console/TensorBoard/wandb output, never resume.
QUIET_RUN = [
    "eval.every_steps=0",
    "eval.episodes=1",
    "eval.final_episodes=1",
    "eval.num_envs=1",
    "eval.max_steps=1",
    "eval.video=false",
    "train.stop_at_eval_return=null",
    "checkpoint.every=0",
    "resume=never",
    "device=cpu",
    "logger.console.enabled=false",
    "logger.tensorboard.enabled=false",
    "logger.wandb.enabled=false",
]


class StepClock:
    """Agent steps per second from the first tick at or past ``start`` to the last tick up to ``stop``.

    ``tick(step)`` is called after each env step with the agent-step count reached so far. The clock
    starts at the first step count ``>= start`` (learning starts there) and stops at the last tick, so
    work before learning starts and after the last env step is not counted. Ticks past ``stop`` (the
    run's last step; pipelined acting receives a step in flight when its envs close) are ignored.
    """

    def __init__(self, start: int, stop: int | None = None) -> None:
        self.start, self.stop = start, stop
        self.t0: float | None = None
        self.step0 = 0
        self.t1 = 0.0
        self.step1 = 0

    def tick(self, step: int, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self.stop is not None and step > self.stop:
            return
        if self.t0 is None:
            if step < self.start:
                return
            self.t0, self.step0 = now, step
        self.t1, self.step1 = now, step

    @property
    def steps(self) -> int:
        """Agent steps timed (after the start tick)."""
        return self.step1 - self.step0 if self.t0 is not None else 0

    @property
    def sps(self) -> float:
        """Agent steps per second after learning starts."""
        if self.t0 is None or self.steps <= 0:
            raise RuntimeError(f"no steps timed after step {self.start}: run more steps than the warm-up")
        return self.steps / (self.t1 - self.t0)


def rlkit_run_overrides(base: Sequence[str], *, learning_starts: int, steps_after: int, threads: int,
                        device: str = "cpu") -> list[str]:
    """``base`` + a run of ``learning_starts + steps_after`` agent steps on ``device`` with negligible extras."""
    return [
        *base,
        f"train.learning_starts_steps={learning_starts}",
        f"train.steps={learning_starts + steps_after}",
        f"torch_threads={threads}",
        *(f"device={device}" if item == "device=cpu" else item for item in QUIET_RUN),
    ]


def run_rlkit_timed(overrides: Sequence[str], learning_starts: int) -> tuple[StepClock, Any]:
    """Run ``rlkit.training.loop.Trainer`` on ``overrides``; (its clock from learning starts, the trainer).

    The trainer's own training envs are wrapped so that each finished step ticks a :class:`StepClock`
    (``clock.sps``: agent steps/s after learning starts), with pipelined acting too.
    """
    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit.config import compose_config
    from rlkit.training.loop import Trainer

    with tempfile.TemporaryDirectory(prefix="rlkit-e2e-") as run_dir:
        trainer = Trainer(compose_config(list(overrides)), Path(run_dir))
        clock = StepClock(learning_starts, stop=trainer.total_steps)
        maker = trainer.parts.env_maker
        make_train = maker.make_train

        counted = [0]  # agent steps of all training envs (pipelined acting builds several groups)

        def make_timed_train(**kwargs: Any) -> Any:
            envs = make_train(**kwargs)
            # the step's end: ale-py's adapter ends every step (also pipelined ones) in recv, other envs in step
            name = "recv" if callable(getattr(envs, "recv", None)) else "step"
            finish = getattr(envs, name)

            def timed_finish(*args: Any) -> Any:
                out = finish(*args)
                counted[0] += envs.num_envs
                clock.tick(counted[0])
                return out

            setattr(envs, name, timed_finish)
            return envs

        maker.make_train = make_timed_train
        trainer.train()
        del maker.make_train  # the instance attribute: back to the class's method
    return clock, trainer


def rss_bytes() -> int:
    """Resident memory of this process now (VmRSS), bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


def per_million(grown_bytes: float, transitions: int) -> float:
    """Bytes for 1M transitions, extrapolated linearly from ``grown_bytes`` for ``transitions``."""
    if transitions <= 0:
        raise ValueError("transitions must be positive")
    return grown_bytes / transitions * ONE_MILLION


def sync_bound(times: dict[str, float], updates_per_step: float) -> tuple[float, dict[str, float]]:
    """(agent steps/s, share of each part) of a synchronous act -> step -> insert -> learn loop.

    ``times`` are seconds per agent step for ``env``, ``act`` and ``insert`` and per update for
    ``sample`` and ``update`` (the learner's term also holds ``priorities`` when present):
    ``1 / (t_env + t_act + t_insert + (t_sample + t_update + t_priorities) * updates_per_step)``.
    """
    per_step = {
        name: seconds * (updates_per_step if name in ("sample", "update", "priorities") else 1.0)
        for name, seconds in times.items()
    }
    total = sum(per_step.values())
    return 1.0 / total, {name: seconds / total for name, seconds in per_step.items()}


def round_order(sides: Sequence[str], round_index: int) -> list[str]:
    """The sides in order on even rounds, reversed on odd ones (drift hits both sides alike)."""
    return list(sides) if round_index % 2 == 0 else list(reversed(sides))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = ".1f") -> str:
    """``min-max`` of the rounds' values."""
    return f"{min(values):{fmt}}-{max(values):{fmt}}" if values else "-"


def emit(result: dict[str, Any]) -> None:
    """A worker's result: one line the parent finds in its output."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(script: Path, name: str, params: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run ``python script --worker name '<params as JSON>'`` and return its ``RESULT`` line's object."""
    env = dict(os.environ, WANDB_MODE="disabled", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    command = [sys.executable, str(script), "--worker", name, json.dumps(params)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {name} {params} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def worker_main(handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]], argv: list[str]) -> bool:
    """If ``argv`` is ``--worker NAME JSON``, run that handler on the parameters, emit its result, return True."""
    if len(argv) != 3 or argv[0] != "--worker":
        return False
    emit(handlers[argv[1]](json.loads(argv[2])))
    return True
