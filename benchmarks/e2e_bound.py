"""End to end vs the machine's bound: rlkit's training loop against the sum of its parts' times.

For each case (``--cases``):

* ``der``: data-efficient Rainbow on Atari 100k, ``experiment=atari100k_der env.game=<--game>`` (the Nature
  protocol, DER torso, an update every agent step);
* ``rainbow``: Rainbow on Pong at the paper's scale, ``experiment=rainbow_atari env.game=pong`` (an update
  every 4 agent steps, 1M replay);

two kinds of worker subprocess alternate over ``--rounds`` (medians reported):

* ``e2e``: ``rlkit.training.loop.Trainer`` on the composed config, ``--learning-starts`` agent steps of
  warm-up then ``--steps`` timed ones; agent steps/s from the env step at which learning starts to the last
  env step (evaluation, checkpoints and loggers off or negligible; the presets' warm-up, 1,600 and 20,000
  agent steps, is shortened: it is not timed);
* ``parts``: the same Trainer for the warm-up only (so the replay holds real Pong transitions), then each
  part alone, on that run's own objects: ``env`` = the bare ``ale_py.AtariVectorEnv`` inside rlkit's
  adapter stepped with random actions (per agent step); ``act`` = ``agent.act`` on the env's observations;
  ``insert`` = ``replay.add_step`` of real transitions; ``sample`` = ``replay.sample(batch)``; ``update`` =
  ``agent.update(batch)``; ``priorities`` = ``replay.update_priorities`` (mean seconds per call).

The synchronous bound is what a loop doing nothing but these parts, one after the other, would reach:
``1 / (t_env + t_act + t_insert + (t_sample + t_update + t_priorities) * updates_per_agent_step)``.
``e2e / bound`` is the share of that the real loop reaches (the rest is its own bookkeeping: episode
statistics, schedules, metrics, target copies); the shares say where a step's time goes.

    python benchmarks/e2e_bound.py                                 # both cases, 3 rounds: ~8-12 min on 2 idle cores
    python benchmarks/e2e_bound.py --cases der --game road_runner --steps 3000
    python benchmarks/e2e_bound.py --learning-starts 200 --steps 60 --rounds 1 --part-calls 5  # quick

Issue 13's target: e2e / bound >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_common import (
    median,
    rlkit_run_overrides,
    round_order,
    run_rlkit_timed,
    run_worker,
    spread,
    sync_bound,
    worker_main,
)

SCRIPT = Path(__file__).resolve()
CASES: dict[str, list[str]] = {
    "der": ["experiment=atari100k_der"],
    "rainbow": ["experiment=rainbow_atari"],
}
PARTS = ("env", "act", "insert", "sample", "update", "priorities")


def case_overrides(p: dict[str, Any], steps_after: int) -> list[str]:
    game = "pong" if p["case"] == "rainbow" else p["game"]
    return rlkit_run_overrides([*CASES[p["case"]], f"env.game={game}"], learning_starts=p["learning_starts"],
                               steps_after=steps_after, threads=p["threads"])


def mean_seconds(fn: Callable[[int], Any], calls: int, warmup: int = 3) -> float:
    """Mean wall seconds of ``fn(i)`` over ``calls`` calls, after ``warmup`` untimed ones."""
    for i in range(warmup):
        fn(i)
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - start) / calls


# -------------------------------------------------------------------------------------------- workers
def e2e(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: the training loop's agent steps/s after learning starts."""
    clock, trainer = run_rlkit_timed(case_overrides(p, p["steps"]), p["learning_starts"])
    return {"sps": clock.sps, "updates": trainer.parts.agent.updates}


def time_env(maker: Any, calls: int) -> float:
    """Seconds per agent step of the bare vector env with uniformly random actions."""
    import numpy as np

    adapter = maker.make_train(seed=1)
    bare, rng = adapter.env, np.random.default_rng(0)
    n, num_actions = bare.num_envs, maker.spec.num_actions
    bare.reset(seed=np.arange(n))
    try:
        return mean_seconds(lambda i: bare.step(rng.integers(0, num_actions, n)), calls, warmup=20) / n
    finally:
        adapter.close()


def record_transitions(maker: Any, count: int) -> list[tuple[Any, ...]]:
    """``count`` real vector steps (obs, actions, clipped rewards, real next obs, terminated, truncated)."""
    import numpy as np

    from rlkit.training.loop import real_next_obs

    envs, rng = maker.make_train(seed=2), np.random.default_rng(1)
    clip = maker.spec.reward_clip or float("inf")
    obs, _ = envs.reset(seed=list(range(2, 2 + envs.num_envs)))
    steps = []
    try:
        for _ in range(count):
            actions = rng.integers(0, maker.spec.num_actions, envs.num_envs)
            next_obs, rewards, terminated, truncated, info = envs.step(actions)
            steps.append((obs, actions, np.clip(rewards, -clip, clip), real_next_obs(next_obs, info), terminated,
                          truncated))
            obs = next_obs
    finally:
        envs.close()
    return steps


def time_learner(trainer: Any, calls: int) -> dict[str, float]:
    """Mean seconds per call of ``replay.sample``, ``agent.update`` and ``replay.update_priorities``."""
    agent, replay, device = trainer.parts.agent, trainer.parts.replay, trainer.device
    batch_size = int(trainer.cfg.agent.batch_size)
    totals = dict.fromkeys(("sample", "update", "priorities"), 0.0)
    for i in range(calls + 3):  # 3 untimed warm-up updates
        t0 = time.perf_counter()
        batch = replay.sample(batch_size, device)
        t1 = time.perf_counter()
        out = agent.update(batch)
        t2 = time.perf_counter()
        replay.update_priorities(batch.indices, out.priorities)
        t3 = time.perf_counter()
        if i >= 3:
            for name, seconds in (("sample", t1 - t0), ("update", t2 - t1), ("priorities", t3 - t2)):
                totals[name] += seconds
    return {name: total / calls for name, total in totals.items()}


def parts(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: the warm-up through the Trainer, then each part of a loop iteration timed alone."""
    _, trainer = run_rlkit_timed(case_overrides(p, 0), p["learning_starts"])
    maker, agent, replay = trainer.parts.env_maker, trainer.parts.agent, trainer.parts.replay
    calls, n = p["part_calls"], maker.num_envs
    steps = record_transitions(maker, 2 * calls + 3)
    times = {"env": time_env(maker, 10 * calls)}
    step = trainer.state.step
    times["act"] = mean_seconds(lambda i: agent.act(steps[i][0], step), 2 * calls) / n
    times["insert"] = mean_seconds(lambda i: replay.add_step(*steps[i]), 2 * calls) / n
    times.update(time_learner(trainer, calls))
    cfg = trainer.cfg.train
    return {"times": times, "updates_per_step": int(cfg.updates_per_cycle) / int(cfg.update_every_steps)}


WORKERS = {"e2e": e2e, "parts": parts}


# --------------------------------------------------------------------------------------------- parent
def measure(args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    """Per case: the e2e speeds and the parts' results of every round, the two kinds alternating."""
    results: dict[str, dict[str, list[Any]]] = {case: defaultdict(list) for case in args.cases}
    for round_index in range(args.rounds):
        for case in args.cases:
            params = {"case": case, "game": args.game, "learning_starts": args.learning_starts,
                      "steps": args.steps, "threads": args.torch_threads, "part_calls": args.part_calls}
            for kind in round_order(("e2e", "parts"), round_index):
                result = run_worker(SCRIPT, kind, params)
                results[case][kind].append(result)
                if kind == "e2e":
                    print(f"  round {round_index + 1} {case:<8} e2e   {result['sps']:8.1f} agent steps/s", flush=True)
                else:
                    bound, _ = sync_bound(result["times"], result["updates_per_step"])
                    print(f"  round {round_index + 1} {case:<8} parts {bound:8.1f} agent steps/s (bound)", flush=True)
    return results


def report(results: dict[str, dict[str, list[Any]]], args: argparse.Namespace) -> None:
    print(f"\nagent steps/s after learning starts ({args.steps} timed per e2e run) vs the synchronous bound from "
          f"the parts' times, medians of {args.rounds} alternating rounds (min-max); {args.torch_threads} torch "
          "thread(s)")
    print(f"{'case':<10}{'e2e SPS':>10}{'bound SPS':>11}{'e2e / bound':>13}   spread e2e | bound")
    for case, kinds in results.items():
        sps = [r["sps"] for r in kinds["e2e"]]
        bounds = [sync_bound(r["times"], r["updates_per_step"])[0] for r in kinds["parts"]]
        print(f"{case:<10}{median(sps):>10.1f}{median(bounds):>11.1f}{median(sps) / median(bounds):>13.2f}   "
              f"{spread(sps)} | {spread(bounds)}")
    print("(issue 13 target: e2e / bound >= 0.9)")
    print("\nparts, ms per agent step (sample, update, priorities: per update x updates per agent step) and share "
          "of the bound's step time")
    for case, kinds in results.items():
        per_update = kinds["parts"][0]["updates_per_step"]
        times = {name: median([r["times"][name] for r in kinds["parts"]]) for name in PARTS}
        _, shares = sync_bound(times, per_update)
        cells = ", ".join(f"{name} {1e3 * times[name] * (per_update if name in PARTS[3:] else 1):.3f} "
                          f"({100 * shares[name]:.0f}%)" for name in PARTS)
        print(f"  {case} ({per_update:g} updates per agent step): {cells}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["der", "rainbow"])
    parser.add_argument("--game", default="pong", help="DER's Atari-100k game (Rainbow runs Pong)")
    parser.add_argument("--steps", type=int, default=2_000, help="agent steps timed per e2e run, after learning starts")
    parser.add_argument("--learning-starts", type=int, default=1_600, help="agent steps of warm-up (not timed)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating e2e/parts rounds per case (medians)")
    parser.add_argument("--part-calls", type=int, default=100,
                        help="timed updates per parts run (act and insert: 2x, env steps: 10x)")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    for name in ("steps", "rounds", "part_calls", "torch_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.learning_starts < 64:
        parser.error("--learning-starts must be >= 64 (batch 32 + DER's 20-step window)")
    return args


def main(argv: list[str]) -> int:
    if worker_main(WORKERS, argv):
        return 0
    args = parse_args(argv)
    print(f"rlkit end to end vs the sum of its parts: cases {', '.join(args.cases)}, DER game {args.game}, "
          f"learning starts at {args.learning_starts:,}, cores {len(os.sched_getaffinity(0))}, "
          f"load {os.getloadavg()[0]:.1f}")
    report(measure(args), args)
    print(f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
