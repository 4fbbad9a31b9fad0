"""End to end vs Stable-Baselines3: DQN on Pong, training speed and the memory of a 1M replay.

Speed. Both sides train DQN on ``ALE/Pong-v5`` with the same env settings: frame skip 4 with a max over
the last 2 frames, up to 30 no-op starts, FIRE at reset (SB3's ``AtariWrapper`` adds it for games that have
FIRE; rlkit: ``env.fire_reset=true``), 84x84 grey frames stacked 4 deep, a lost life terminal for the
learner, rewards clipped to [-1, 1], no sticky actions (SB3: ``gym.make(..., frameskip=1,
repeat_action_probability=0)`` + ``AtariWrapper(noop_max=30, frame_skip=4, terminal_on_life_loss=True,
clip_reward=True)`` + ``VecFrameStack(4)``; rlkit: ``env=atari_dqn2015 env.fire_reset=true``), one env.
The schedule is Nature DQN's: batch 32, one update every 4 agent steps, a 100K replay, the Nature CNN,
target copy every 40K agent steps (10K updates), Huber loss; acting epsilon fixed at ``--epsilon`` on both
sides (so both run a forward pass on the same share of steps); learning starts at ``--learning-starts``.
Each side uses its own DQN default optimiser: rlkit's ``agent=dqn`` preset DeepMind's centred RMSProp
(``optim=rmsprop_tf``, lr 2.5e-4; ``--rlkit-optim adam`` switches it), SB3's Adam (lr 1e-4) with gradient
norm clipping at 10 (its default). rlkit runs through its own training loop
(``rlkit.training.loop.Trainer`` on the composed Hydra config, evaluation and checkpoints off), SB3
through ``DQN.learn``. Both are timed the same way: agent steps per second from the env step at which
learning starts to the last env step (a wrapper around rlkit's training envs; a callback in SB3), so
set-up, warm-up and anything after the last step are left out. Every run is its own subprocess (torch
threads, memory); the two sides alternate over ``--rounds`` at each ``--torch-threads`` setting, and the
medians are compared (rlkit / SB3, and each side's best setting against the other's). ``--compiled`` adds a
side with ``compile=true`` (``--warmup N`` starts every side's clock N agent steps after learning starts,
leaving compilation out). With ``--pipelined``
a third side runs rlkit with ``train.pipeline=true`` (rlkit/training/stepping.py: the emulator steps while
rlkit stores the last step and updates; an action misses the update its previous step triggered, if any).
``--learner-thread`` adds a side with ``train.learner_thread=true`` (rlkit/training/learner_thread.py: the
updates run in a thread while the loop acts, emulates and stores; an action lacks at most one update cycle).
``--bf16`` adds a side with the Nature CNN's convolutions in bfloat16 (``network.torso.compute_dtype``): faster
where the CPU has bfloat16 arithmetic, but not the same numbers as SB3's float32 (reported apart).

Memory. Each side's own DQN replay buffer (rlkit: the ``frame_stack`` storage ``agent=dqn env=atari*``
builds; SB3: ``DQN.replay_buffer``, with ``optimize_memory_usage`` False, its default, which stores
``next_obs`` too, and True) is filled with ``--memory-transitions`` real Pong transitions (random
actions) in its own subprocess. Resident memory (VmRSS) grown per transition and the arrays' bytes per
transition are both extrapolated linearly to 1M transitions; ratios are SB3 / rlkit.

    python benchmarks/e2e_sb3.py                          # 1 torch thread, 3 rounds: ~8-10 min on 2 idle cores
    python benchmarks/e2e_sb3.py --torch-threads 1 2      # each side's best thread count (run_all): ~15-18 min
    python benchmarks/e2e_sb3.py --learning-starts 100 --steps 100 --rounds 1 --memory-transitions 1000  # quick

Issue 13's targets: >= 1.5x SB3's agent steps/s on CPU; >= 4x lower peak memory with a 1M replay.
Needs ``stable-baselines3`` (``pip install 'rlkit[bench]'``); without it the script says so and exits
with status 77 (``run_all.py`` records the benchmark as skipped).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from e2e_common import (
    SKIPPED_EXIT,
    StepClock,
    median,
    per_million,
    rlkit_run_overrides,
    round_order,
    rss_bytes,
    run_rlkit_timed,
    run_worker,
    spread,
    worker_main,
)

SCRIPT = Path(__file__).resolve()
GAME_ID = "ALE/Pong-v5"
RLKIT_ENV = ["env=atari_dqn2015", "env.game=pong", "env.fire_reset=true", "agent=dqn"]
NATURE_TARGET_STEPS = 40_000  # 10K updates x 4 agent steps
GB = 1e9


# ------------------------------------------------------------------------------------------- SB3 side
def sb3_installed() -> bool:
    return importlib.util.find_spec("stable_baselines3") is not None


def make_sb3_env(seed: int) -> Any:
    """SB3's Atari pipeline for Pong with the settings above (one env)."""
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    env = make_atari_env(
        GAME_ID, n_envs=1, seed=seed,
        env_kwargs={"frameskip": 1, "repeat_action_probability": 0.0},
        wrapper_kwargs={"noop_max": 30, "frame_skip": 4, "screen_size": 84, "terminal_on_life_loss": True,
                        "clip_reward": True},
    )
    return VecFrameStack(env, n_stack=4)


def make_sb3_dqn(*, buffer_size: int, learning_starts: int, epsilon: float, optimize_memory: bool,
                 device: str = "cpu") -> Any:
    """SB3's DQN with the Nature schedule; its own defaults otherwise (Adam 1e-4, grad norm 10)."""
    from stable_baselines3 import DQN

    return DQN(
        "CnnPolicy", make_sb3_env(seed=0), buffer_size=buffer_size, learning_starts=learning_starts, batch_size=32,
        train_freq=4, gradient_steps=1, target_update_interval=NATURE_TARGET_STEPS,
        exploration_initial_eps=epsilon, exploration_final_eps=epsilon, optimize_memory_usage=optimize_memory,
        replay_buffer_kwargs={"handle_timeout_termination": not optimize_memory}, device=device, seed=0, verbose=0,
    )


def sb3_speed(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: SB3 ``DQN.learn`` for ``learning_starts + steps`` agent steps; steps/s after learning starts."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(p["threads"])
    clock = StepClock(p["learning_starts"] + p.get("warmup", 0))

    class Ticks(BaseCallback):
        def _on_step(self) -> bool:  # after each env step, num_timesteps already counts it
            clock.tick(self.num_timesteps)
            return True

    model = make_sb3_dqn(buffer_size=p["replay"], learning_starts=p["learning_starts"], epsilon=p["epsilon"],
                         optimize_memory=False, device=p.get("device", "cpu"))
    model.learn(total_timesteps=p["learning_starts"] + p.get("warmup", 0) + p["steps"], callback=Ticks())
    return {"sps": clock.sps, "threads": torch.get_num_threads(), "updates": model._n_updates}


def sb3_memory(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: fill SB3's DQN replay buffer with ``transitions`` real Pong transitions (random actions)."""
    import numpy as np

    k = p["transitions"]
    model = make_sb3_dqn(buffer_size=k, learning_starts=k, epsilon=1.0, optimize_memory=p["optimize_memory"])
    env, buffer = model.env, model.replay_buffer
    rng = np.random.default_rng(0)
    obs = env.reset()
    before = rss_bytes()
    for _ in range(k):
        actions = rng.integers(0, env.action_space.n, size=(env.num_envs,))
        next_obs, rewards, dones, infos = env.step(actions)
        buffer.add(obs, next_obs, actions, rewards, dones, infos)
        obs = next_obs
    arrays = sum(value.nbytes for value in vars(buffer).values() if isinstance(value, np.ndarray))
    return {"grown": rss_bytes() - before, "transitions": k, "array_bytes": arrays, "capacity": buffer.buffer_size}


# ------------------------------------------------------------------------------------------ rlkit side
def rlkit_base(p: dict[str, Any]) -> list[str]:
    """rlkit-train overrides for the same env, schedule and acting epsilon."""
    return [*RLKIT_ENV, f"optim={p['optim']}", f"replay.capacity={p['replay']}", f"epsilon.start={p['epsilon']}",
            f"epsilon.end={p['epsilon']}", "agent.batch_size=32", "train.update_every_steps=4",
            "train.updates_per_cycle=1", f"agent.target_update_every_steps={NATURE_TARGET_STEPS}"]


def rlkit_speed(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: rlkit's Trainer for ``learning_starts + steps`` agent steps; steps/s after learning starts."""
    import torch

    base = [*rlkit_base(p), *RLKIT_SIDES[p.get("side", "rlkit")]]
    warmup = p.get("warmup", 0)
    overrides = rlkit_run_overrides(base, learning_starts=p["learning_starts"], steps_after=warmup + p["steps"],
                                    threads=p["threads"], device=p.get("device", "cpu"))
    clock, trainer = run_rlkit_timed(overrides, p["learning_starts"] + warmup)
    return {"sps": clock.sps, "threads": torch.get_num_threads(), "updates": trainer.parts.agent.updates}


def rlkit_memory(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: fill rlkit's DQN replay (as the loop builds it) with ``transitions`` real Pong transitions."""
    import numpy as np
    import torch

    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit.config import compose_config
    from rlkit.training.builder import build_parts
    from rlkit.training.loop import real_next_obs

    k = p["transitions"]
    cfg = compose_config([*rlkit_base({**p, "replay": k, "epsilon": 1.0, "optim": "rmsprop_tf"}), "device=cpu"])
    parts = build_parts(cfg, torch.device("cpu"))
    replay, clip = parts.replay, parts.env_maker.spec.reward_clip
    envs = parts.env_maker.make_train(seed=0)
    rng = np.random.default_rng(0)
    obs, _ = envs.reset(seed=[0])
    before = rss_bytes()
    for _ in range(k):
        actions = rng.integers(0, parts.env_maker.spec.num_actions, size=envs.num_envs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        replay.add_step(obs, actions, np.clip(rewards, -clip, clip), real_next_obs(next_obs, info), terminated,
                        truncated)
        obs = next_obs
    grown = rss_bytes() - before
    envs.close()
    return {"grown": grown, "transitions": k, "array_bytes": replay.storage.nbytes, "capacity": k}


# rlkit's sides: the overrides each adds to the shared schedule (the flag that adds it, see parse_args)
RLKIT_SIDES = {"rlkit": [], "rlkit-pipelined": ["train.pipeline=true"], "rlkit-compiled": ["compile=true"],
               "rlkit-thread": ["train.learner_thread=true"], "rlkit-bf16": ["+network.torso.compute_dtype=bfloat16"]}
WORKERS = {**{f"{side}-speed": (lambda p, side=side: rlkit_speed({**p, "side": side})) for side in RLKIT_SIDES},
           "sb3-speed": sb3_speed, "rlkit-memory": rlkit_memory, "sb3-memory": sb3_memory}


# --------------------------------------------------------------------------------------------- parent
def sides(args: argparse.Namespace) -> tuple[str, ...]:
    chosen = {"rlkit-pipelined": args.pipelined, "rlkit-compiled": args.compiled, "rlkit-thread": args.learner_thread,
              "rlkit-bf16": args.bf16}
    return ("rlkit", *(side for side, on in chosen.items() if on), "sb3")


def measure_speed(args: argparse.Namespace) -> dict[tuple[str, int], list[float]]:
    """Agent steps/s per (side, threads), the sides alternating over rounds."""
    speeds: dict[tuple[str, int], list[float]] = defaultdict(list)
    params = {"learning_starts": args.learning_starts, "steps": args.steps, "replay": args.replay,
              "epsilon": args.epsilon, "optim": args.rlkit_optim, "device": args.device, "warmup": args.warmup}
    for round_index in range(args.rounds):
        for threads in args.torch_threads:
            for side in round_order(sides(args), round_index):
                result = run_worker(SCRIPT, f"{side}-speed", {**params, "threads": threads})
                speeds[(side, threads)].append(result["sps"])
                print(f"  round {round_index + 1} threads {threads} {side:<15} {result['sps']:8.1f} agent steps/s "
                      f"({result['updates']} updates in all)", flush=True)
    return speeds


def print_speed(speeds: dict[tuple[str, int], list[float]], args: argparse.Namespace) -> None:
    ours_sides = [side for side in sides(args) if side != "sb3"]
    print(f"\nspeed: agent steps/s after learning starts + {args.warmup} ({args.steps} steps timed per run), medians of "
          f"{args.rounds} alternating rounds (min-max)")
    print(f"{'torch threads':>13}" + "".join(f"{side:>17}{side + ' / SB3':>22}" for side in ours_sides)
          + f"{'SB3':>10}   spread " + " | ".join(sides(args)))
    for threads in args.torch_threads:
        theirs = speeds[("sb3", threads)]
        row = "".join(f"{median(speeds[(side, threads)]):>17.1f}{median(speeds[(side, threads)]) / median(theirs):>21.2f}x"
                      for side in ours_sides)
        print(f"{threads:>13}{row}{median(theirs):>10.1f}   "
              + " | ".join(spread(speeds[(side, threads)]) for side in sides(args)))
    best = {side: max(args.torch_threads, key=lambda t, s=side: median(speeds[(s, t)])) for side in sides(args)}
    theirs = median(speeds[("sb3", best["sb3"])])
    for side in ours_sides:
        ours = median(speeds[(side, best[side])])
        print(f"best setting each: {side} {ours:.1f} (threads={best[side]}) vs SB3 {theirs:.1f} "
              f"(threads={best['sb3']}): {side} / SB3 = {ours / theirs:.2f}x   (issue 13 target: "
              f"{'>= 3x on a GPU' if args.device == 'cuda' else '>= 1.5x on CPU'})")


def measure_memory(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each side's replay filled with the same number of real transitions, in its own subprocess."""
    sides = {"rlkit": ("rlkit-memory", {}), "SB3 (optimize_memory_usage=False, default)":
             ("sb3-memory", {"optimize_memory": False}), "SB3 (optimize_memory_usage=True)":
             ("sb3-memory", {"optimize_memory": True})}
    results = {}
    for label, (worker, extra) in sides.items():
        results[label] = run_worker(SCRIPT, worker, {"transitions": args.memory_transitions, **extra})
        print(f"  {label}: resident +{results[label]['grown'] / 1e6:.1f} MB for {args.memory_transitions} transitions",
              flush=True)
    return results


def print_memory(results: dict[str, dict[str, Any]], transitions: int) -> None:
    print(f"\nmemory of a 1M-transition replay, extrapolated linearly from {transitions:,} real Pong transitions "
          "(resident growth while filling; the buffer's arrays' bytes per slot)")
    print(f"{'replay':<46}{'RSS B/transition':>17}{'RSS at 1M':>12}{'arrays at 1M':>14}{'SB3 / rlkit (RSS)':>19}"
          f"{'(arrays)':>10}")
    rss = {label: per_million(r["grown"], r["transitions"]) for label, r in results.items()}
    arrays = {label: per_million(r["array_bytes"], r["capacity"]) for label, r in results.items()}
    for label in results:
        ratio = (f"{rss[label] / rss['rlkit']:>18.2f}x{arrays[label] / arrays['rlkit']:>9.2f}x"
                 if label != "rlkit" else f"{'':>19}{'':>10}")
        print(f"{label:<46}{rss[label] / 1e6:>17,.0f}{rss[label] / GB:>10.2f}GB{arrays[label] / GB:>12.2f}GB{ratio}")
    print("(issue 13 target: >= 4x lower peak memory with a 1M replay; RSS B/transition is bytes per transition)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5_000, help="agent steps timed per run, after learning starts")
    parser.add_argument("--learning-starts", type=int, default=1_000, help="agent steps of warm-up (not timed)")
    parser.add_argument("--replay", type=int, default=100_000, help="replay capacity (transitions) of the speed runs")
    parser.add_argument("--epsilon", type=float, default=0.01, help="fixed acting epsilon on both sides")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per thread setting (medians)")
    parser.add_argument("--torch-threads", type=int, nargs="+", default=[1], help="settings to measure each side at")
    parser.add_argument("--rlkit-optim", default="rmsprop_tf", choices=["rmsprop_tf", "adam"],
                        help="rlkit's optimiser: its DQN preset's (rmsprop_tf) or SB3's kind (adam)")
    parser.add_argument("--memory-transitions", type=int, default=50_000, help="real transitions per replay fill")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where both sides train (speed only; the replay memory is host memory either way)")
    parser.add_argument("--pipelined", action="store_true",
                        help="also time rlkit with train.pipeline=true (a third side in each round)")
    parser.add_argument("--compiled", action="store_true",
                        help="also time rlkit with compile=true (a side of its own; use --warmup to leave the "
                             "first update's compilation out of the timed steps)")
    parser.add_argument("--learner-thread", action="store_true",
                        help="also time rlkit with train.learner_thread=true (the learner in a thread beside the "
                             "acting loop; actions lack at most one update cycle)")
    parser.add_argument("--bf16", action="store_true",
                        help="also time rlkit with +network.torso.compute_dtype=bfloat16 (the convolutions in bfloat16: "
                             "not float32's numbers, unlike the other sides)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="agent steps after learning starts before the clock starts, on every side")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    for name in ("steps", "learning_starts", "rounds", "memory_transitions"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.learning_starts < 32 or args.replay < args.learning_starts + args.steps:
        parser.error("--learning-starts must be >= 32 (the batch) and --replay >= learning starts + steps")
    return args


def main(argv: list[str]) -> int:
    if worker_main(WORKERS, argv):
        return 0
    args = parse_args(argv)
    if not sb3_installed():
        print("stable-baselines3 is not installed: comparison skipped. Install it with "
              "pip install 'rlkit[bench]' (or 'stable-baselines3>=2.3').")
        return SKIPPED_EXIT
    print(f"DQN on Pong, rlkit vs Stable-Baselines3 {metadata.version('stable-baselines3')}: one env, batch 32, "
          f"an update every 4 agent steps, replay {args.replay:,}, learning starts at {args.learning_starts:,}, "
          f"epsilon {args.epsilon}; optimisers: rlkit {args.rlkit_optim}, SB3 Adam; device {args.device}; torch "
          f"{metadata.version('torch')}, cores {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}")
    if not args.skip_speed:
        print_speed(measure_speed(args), args)
    if not args.skip_memory:
        print_memory(measure_memory(args), args.memory_transitions)
    print(f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
