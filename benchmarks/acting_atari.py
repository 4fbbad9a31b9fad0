"""Atari acting throughput: rlkit's training loop (no learning) vs the bare emulator, same envs, same run.

For each number of envs E, alternating ``--repeats`` times (medians reported, so a busy shared
machine shows up as spread rather than as a bias against one side):

* ``raw``: the bare ``ale_py.AtariVectorEnv`` that ``AtariEnvMaker.make_train`` builds (frame skip 4,
  max-pool, 84x84 grey, stack 4, sticky actions 0.25), stepped with uniformly random actions and
  nothing else. Its process CPU time is recorded too (ale-py steps the envs on its own threads).
* ``rlkit``: ``rlkit.training.loop.Trainer`` itself, learning switched off (``learning_starts``
  past the end): ``DQNAgent.act`` (Nature-CNN DQN, epsilon 0.01, so a forward pass every step) +
  ``AtariVectorAdapter.step`` + ``FrameStackStorage.add_step`` + episode bookkeeping. Its rate is
  the loop's own ``charts/SPS``, median over the logging intervals after the first (which holds
  the warm-up). The parts are wrapped with timers (~1 us per call) for the breakdown.
* ``pipelined``: the same loop with ``train.pipeline=true`` (rlkit/training/stepping.py): each group's
  next step starts as soon as its last one returns, so ale-py's threads emulate while the loop stores
  the step; with even E, ``train.pipeline_groups=E/2``: one group's actions are computed while the
  others are emulated. Its rate is the loop's ``charts/SPS`` as for ``rlkit``.

Then, for the agent the loop used: ``forward`` = ``online.q_values`` alone on E real observations
(inference mode), ``act`` = ``DQNAgent.act`` alone; and two ceilings from the measured times:
``sync ceiling`` = raw / (raw + act + replay), the best any act -> step -> insert loop can reach,
and ``pipelined ceiling`` = raw / max(raw, (raw CPU + act + replay) / cores), the best when policy
and emulator overlap perfectly but share the machine's cores.

    python benchmarks/acting_atari.py --num-envs 1 8 --steps 3000 --torch-threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rlkit.components  # noqa: F401  (registers every component)
from rlkit import registry
from rlkit.config import compose_config
from rlkit.training.loop import Trainer
from rlkit.utils.runtime import available_cores


class Timers:
    """Seconds and calls per named part; :meth:`wrap` times a callable."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.loop_seconds = 0.0  # whole loop iterations: from one act call to the next
        self.loop_iterations = 0
        self._last: float | None = None

    def mark_iteration(self) -> None:
        """Called at the start of each act: the time since the previous one is one loop iteration."""
        now = time.perf_counter()
        if self._last is not None:
            self.loop_seconds += now - self._last
            self.loop_iterations += 1
        self._last = now

    def end_run(self) -> None:
        self._last = None

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed

    def per_call_ms(self, name: str, calls: int) -> float:
        return 1e3 * self.seconds[name] / max(calls, 1)


def time_raw(envs: Any, steps: int, num_actions: int) -> tuple[float, float]:
    """(agent steps/s, process CPU seconds per vector step) of the bare vector env with random actions."""
    rng = np.random.default_rng(0)
    n = envs.num_envs
    envs.reset(seed=np.arange(n))
    for _ in range(20):  # warm-up
        envs.step(rng.integers(0, num_actions, n))
    iterations = steps // n
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(iterations):
        envs.step(rng.integers(0, num_actions, n))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return iterations * n / wall, cpu / iterations


def loop_overrides(game: str, num_envs: int, steps: int, threads: int, epsilon: float) -> list[str]:
    """rlkit-train overrides: Nature-CNN DQN acting in ``env=atari``, no learning, no checkpoints, quiet."""
    return [
        "env=atari",
        f"env.game={game}",
        f"env.num_envs={num_envs}",
        "agent=dqn",
        f"train.steps={steps}",
        f"train.learning_starts_steps={10 * steps}",
        "eval.every_steps=0",
        "eval.max_steps=1",
        "eval.episodes=1",
        f"torch_threads={threads}",
        "device=cpu",
        "replay.capacity=100000",
        f"epsilon.start={epsilon}",
        f"epsilon.end={epsilon}",
        f"train.log_every_steps={max(num_envs, steps // 10)}",
        "resume=never",
        "checkpoint.every=0",
        "logger.console.enabled=false",
        "logger.tensorboard.enabled=false",
        "logger.wandb.enabled=false",
    ]


def time_rlkit_loop(overrides: list[str], timers: Timers) -> tuple[float, Any, np.ndarray]:
    """(steady-state agent steps/s of rlkit's own loop, its agent, a batch of observations it acted on)."""
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(compose_config(overrides), Path(run_dir))
        parts = trainer.parts
        agent, seen = parts.agent, {}

        def act(obs: np.ndarray, step: int) -> np.ndarray:
            seen["obs"] = obs
            timers.mark_iteration()
            return timed_act(obs, step)

        timed_act = timers.wrap("act", agent.act)
        agent.act = act
        agent._reset_acting_noise = timers.wrap("act: noise", agent._reset_acting_noise)
        agent._obs_tensor = timers.wrap("act: obs to tensor", agent._obs_tensor)
        agent.online.q_values = timers.wrap("act: forward", agent.online.q_values)
        parts.replay.add_step = timers.wrap("replay insert", parts.replay.add_step)
        trainer.tracker.step = timers.wrap("episode stats", trainer.tracker.step)
        make_train = parts.env_maker.make_train

        def make_timed_train(**kwargs: Any) -> Any:
            envs = make_train(**kwargs)
            envs.step = timers.wrap("env step", envs.step)
            return envs

        parts.env_maker.make_train = make_timed_train
        trainer.train()
        timers.end_run()
        sps = _median_sps(Path(run_dir))
        for name in ("act", "_reset_acting_noise", "_obs_tensor", "q_values"):  # back to the real methods
            vars(agent).pop(name, None)
            vars(agent.online).pop(name, None)
        return sps, agent, np.array(seen["obs"])


def pipeline_overrides(num_envs: int) -> list[str]:
    """Pipelined acting for E envs: groups of two envs when E is even (E=8: 4 groups, measured faster
    here than 2 groups: 2,845-3,092 vs 2,687-2,743 agent steps/s), else one group."""
    groups = num_envs // 2 if num_envs >= 2 and num_envs % 2 == 0 else 1
    return ["train.pipeline=true", f"train.pipeline_groups={groups}"]


def time_pipelined(overrides: list[str]) -> float:
    """Steady-state agent steps/s of rlkit's loop with pipelined acting."""
    with tempfile.TemporaryDirectory() as run_dir:
        Trainer(compose_config([*overrides, *pipeline_overrides(_num_envs(overrides))]), Path(run_dir)).train()
        return _median_sps(Path(run_dir))


def _num_envs(overrides: list[str]) -> int:
    return next(int(o.split("=", 1)[1]) for o in overrides if o.startswith("env.num_envs="))


def _median_sps(run_dir: Path) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    sps = [row["charts/SPS"] for row in rows if "charts/SPS" in row][1:]  # the first interval holds the warm-up
    return float(np.median(sps))


def time_call(fn: Callable[[], Any], repeats: int = 200) -> float:
    """Median seconds of ``fn()`` after 20 warm-up calls."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_policy(agent: Any, obs: np.ndarray) -> tuple[float, float]:
    """Median seconds of the online network's forward pass alone (inference mode) and of ``agent.act``."""
    with torch.inference_mode():
        forward = time_call(lambda: agent.online.q_values(torch.as_tensor(obs)))
    return forward, time_call(lambda: agent.act(obs, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="pong")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=3_000, help="agent steps per measurement (summed over envs)")
    parser.add_argument("--epsilon", type=float, default=0.01, help="greedy forward pass on (almost) every step")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="alternating raw/rlkit/pipelined runs; medians")
    parser.add_argument("--no-pipelined", action="store_true", help="skip the pipelined loop (train.pipeline=true)")
    args = parser.parse_args()
    for name, value, low in (
        ("--steps", args.steps, 100),
        ("--repeats", args.repeats, 1),
        ("--torch-threads", args.torch_threads, 1),
        ("--num-envs", min(args.num_envs), 1),
    ):
        if value < low:
            parser.error(f"{name} must be >= {low}, got {value}")
    cores = available_cores()
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, cores available: {cores}, "
        f"load average {os.getloadavg()[0]:.2f}, game {args.game}, {args.steps} agent steps per run, "
        f"epsilon {args.epsilon}, torch threads {args.torch_threads}, medians of {args.repeats}"
    )
    results = []
    timers_loop: dict[int, float] = {}  # seconds per loop iteration, from the timers
    for num_envs in args.num_envs:
        overrides = loop_overrides(args.game, num_envs, args.steps, args.torch_threads, args.epsilon)
        env_cfg = compose_config(overrides).env
        maker = registry.build("env", env_cfg)  # the loop's env settings exactly
        num_actions = maker.spec.num_actions
        bare = maker.make_train(seed=0).env  # the ale_py.AtariVectorEnv inside rlkit's adapter
        runs: dict[str, list[float]] = defaultdict(list)
        timers = Timers()
        try:
            for _ in range(args.repeats):
                sps, cpu = time_raw(bare, args.steps, num_actions)
                runs["raw"].append(sps)
                runs["raw cpu"].append(cpu)
                sps, agent, obs = time_rlkit_loop(overrides, timers)
                runs["rlkit"].append(sps)
                torch.set_num_threads(args.torch_threads)
                if not args.no_pipelined:
                    runs["pipelined"].append(time_pipelined(overrides))
        finally:
            bare.close()
        forward, act = time_policy(agent, obs)
        med = {key: float(np.median(values)) for key, values in runs.items()}
        calls = timers.calls["env step"]
        parts = {
            name: timers.per_call_ms(name, calls)
            for name in (
                "env step",
                "act",
                "act: noise",
                "act: obs to tensor",
                "act: forward",
                "replay insert",
                "episode stats",
            )
        }
        timers_loop[num_envs] = timers.loop_seconds / max(timers.loop_iterations, 1)
        results.append((num_envs, maker.num_threads, med, runs, parts, 1e3 * forward, 1e3 * act))

    print(f"\nload average now {os.getloadavg()[0]:.2f}")
    print(
        f"{'envs':>4} {'ale thr':>7} {'raw env SPS':>11} {'rlkit SPS':>9} {'ratio':>6} {'pipelined SPS':>13} {'ratio':>6}"
        "   spread (min-max of the repeats): raw | rlkit"
    )
    for num_envs, ale_threads, med, runs, *_ in results:
        pipe = (
            f"{med['pipelined']:>13.0f} {med['pipelined'] / med['raw']:>6.2f}"
            if "pipelined" in med
            else f"{'-':>13} {'-':>6}"
        )
        print(
            f"{num_envs:>4} {ale_threads:>7} {med['raw']:>11.0f} {med['rlkit']:>9.0f} {med['rlkit'] / med['raw']:>6.2f} "
            f"{pipe}   {min(runs['raw']):.0f}-{max(runs['raw']):.0f} | {min(runs['rlkit']):.0f}-{max(runs['rlkit']):.0f}"
        )
    print(
        "(pipelined: train.pipeline=true, train.pipeline_groups=E/2 for even E, else 1)"
        "\nper vector step (ms) inside rlkit's loop, means over all its iterations in all repeats (so the "
        "loop time here can differ from the median SPS above); 'rest' = loop time outside the timed parts"
    )
    for num_envs, _, med, _, parts, forward, act in results:
        wall = 1e3 * timers_loop[num_envs]
        raw, raw_cpu = 1e3 * num_envs / med["raw"], 1e3 * med["raw cpu"]
        act_rest = parts["act"] - parts["act: noise"] - parts["act: obs to tensor"] - parts["act: forward"]
        rest = wall - parts["env step"] - parts["act"] - parts["replay insert"] - parts["episode stats"]
        print(
            f"  E={num_envs}: loop {wall:.3f} = env step {parts['env step']:.3f} + act {parts['act']:.3f} "
            f"(forward {parts['act: forward']:.3f}, obs to tensor {parts['act: obs to tensor']:.3f}, "
            f"noise {parts['act: noise']:.3f}, exploration/argmax/rest {act_rest:.3f}) + replay insert "
            f"{parts['replay insert']:.3f} + episode stats {parts['episode stats']:.3f} + rest {rest:.3f}"
        )
        sync_ceiling = raw / (raw + act + parts["replay insert"])
        pipe_ceiling = raw / max(raw, (raw_cpu + act + parts["replay insert"]) / cores)
        pipe = f"{pipe_ceiling:.2f}" if num_envs >= 2 else "- (one env: its action needs its observation)"
        print(
            f"        alone: forward {forward:.3f}, act {act:.3f}; raw env {raw:.3f} wall / {raw_cpu:.3f} CPU; "
            f"ceilings: sync {sync_ceiling:.2f}, pipelined on {cores} cores {pipe}"
        )


if __name__ == "__main__":
    main()
