"""Fused vs per-tensor Adam (``optim.fused``): the optimiser step alone and the whole learner update.

The Adam presets (DER, Rainbow, the MinAtar agents, DrQ(ε), QR-DQN, IQN, M-DQN) step every parameter
tensor. torch's default on a CPU is a Python loop over the tensors with several passes each; ``fused``
(torch's one-kernel Adam, rlkit's default where torch has it) does one pass. Two agents are built from
one config and seed (identical weights), one with ``optim.fused=true``, one with ``false``; rounds
alternate between them and the medians are compared: optimiser steps/s on the agent's parameters
(gradients set once) and updates/s of ``DQNAgent.update`` on one batch of the preset's input shape.
Ratio fused/per-tensor above 1: fused pays. With ``--e2e-steps N``, also DER on Pong end to end: the training
loop's agent steps/s over N steps after learning starts (``e2e_common.run_rlkit_timed``, one worker
subprocess per run), the two sides alternating over ``--e2e-rounds`` rounds (medians).

    python benchmarks/optim_fused.py                         # der, Atari rainbow, MinAtar rainbow and dqn, CPU
    python benchmarks/optim_fused.py --e2e-steps 2000        # ... and DER end to end (~4 min more)
    python benchmarks/optim_fused.py --device cuda --presets der
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch
from e2e_common import median, rlkit_run_overrides, round_order, run_rlkit_timed, run_worker, spread, worker_main
from learner_atari import timed
from learner_compile import rounds

import rlkit.components  # noqa: F401  (registers the built-in parts)
from rlkit import registry
from rlkit.config import compose_config
from rlkit.training.builder import build_agent
from rlkit.types import Batch

PRESETS = {  # name: overrides (each an Adam preset)
    "der": ["experiment=atari100k_der", "env.game=pong"],
    "rainbow": ["env=atari", "env.game=pong", "agent=rainbow"],
    "minatar_rainbow": ["experiment=minatar_rainbow", "env.game=breakout"],
    "minatar_dqn": ["experiment=minatar_dqn", "env.game=breakout"],
}


def make_batch(spec: object, batch_size: int, device: torch.device) -> Batch:
    """A batch of uint8 observations of the env's shape, random actions and rewards (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    shape = (batch_size, *spec.obs_shape)  # type: ignore[attr-defined]
    high = 256 if spec.obs_dtype == "uint8" else 2  # type: ignore[attr-defined]
    return Batch(
        obs=torch.randint(0, high, shape, dtype=torch.uint8, generator=g).to(device),
        actions=torch.randint(0, spec.num_actions, (batch_size,), generator=g).to(device),  # type: ignore[attr-defined]
        rewards=torch.randn(batch_size, generator=g).to(device),
        next_obs=torch.randint(0, high, shape, dtype=torch.uint8, generator=g).to(device),
        discounts=torch.full((batch_size,), 0.99**3).to(device),
        weights=torch.ones(batch_size).to(device),
        indices=torch.arange(batch_size).numpy(),
    )


def build(preset: str, fused: bool, device: torch.device) -> tuple[object, Batch]:
    cfg = compose_config([*PRESETS[preset], f"optim.fused={str(fused).lower()}"])
    env_maker = registry.build("env", cfg.env)
    torch.manual_seed(0)
    agent = build_agent(cfg, env_maker, device)
    assert agent.optimizer.param_groups[0]["fused"] is fused
    return agent, make_batch(env_maker.spec, cfg.agent.batch_size, device)


def measure(preset: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    agents = {fused: build(preset, fused, device) for fused in (True, False)}
    for agent, batch in agents.values():
        for _ in range(3):  # warm-up; creates the optimiser state
            agent.update(batch)
    steps = {f"step_{fused}": (lambda a=agent: timed(a.optimizer.step, args.updates, device))
             for fused, (agent, _) in agents.items()}
    updates = {f"update_{fused}": (lambda a=agent, b=batch: timed(lambda: a.update(b), args.updates, device))
               for fused, (agent, batch) in agents.items()}
    params = sum(p.numel() for p in agents[True][0].online.parameters())
    return {**rounds(steps, args.repeats), **rounds(updates, args.repeats), "params": params}


def e2e_worker(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: DER on Pong, agent steps/s after learning starts, with ``optim.fused`` as given."""
    base = ["experiment=atari100k_der", "env.game=pong", f"optim.fused={str(p['fused']).lower()}"]
    overrides = rlkit_run_overrides(base, learning_starts=p["learning_starts"], steps_after=p["steps"],
                                    threads=p["threads"])
    clock, trainer = run_rlkit_timed(overrides, p["learning_starts"])
    assert trainer.parts.agent.optimizer.param_groups[0]["fused"] is p["fused"]
    return {"sps": clock.sps}


def e2e(args: argparse.Namespace) -> None:
    runs: dict[bool, list[float]] = {True: [], False: []}
    for round_index in range(args.e2e_rounds):
        for fused in round_order((True, False), round_index):
            params = {"fused": fused, "steps": args.e2e_steps, "learning_starts": 1_600, "threads": args.torch_threads}
            runs[fused].append(run_worker(Path(__file__), "e2e", params)["sps"])
            print(f"  round {round_index + 1} DER e2e fused={str(fused).lower():<5} {runs[fused][-1]:8.1f} agent "
                  "steps/s", flush=True)
    fused, loop = median(runs[True]), median(runs[False])
    print(f"DER on Pong end to end, {args.e2e_steps} agent steps after learning starts (1,600), medians of "
          f"{args.e2e_rounds} rounds: fused {fused:.1f} ({spread(runs[True])}), per-tensor {loop:.1f} "
          f"({spread(runs[False])}) agent steps/s, ratio {fused / loop:.2f}")


def main() -> None:
    if worker_main({"e2e": e2e_worker}, sys.argv[1:]):
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--updates", type=int, default=20, help="steps or updates per timed round")
    parser.add_argument("--repeats", type=int, default=7, help="alternating rounds per side (medians)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--e2e-steps", type=int, default=0, help="DER end to end: agent steps timed per run (0: off)")
    parser.add_argument("--e2e-rounds", type=int, default=3, help="alternating end-to-end rounds (medians)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    print(f"optim_fused: device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'preset':<17}{'params':>10}{'step/s fused':>14}{'per-tensor':>12}{'ratio':>8}"
          f"{'update/s fused':>16}{'per-tensor':>12}{'ratio':>8}")
    for preset in args.presets:
        m = measure(preset, args, device)
        print(f"{preset:<17}{m['params']:>10,}{m['step_True']:>14.1f}{m['step_False']:>12.1f}"
              f"{m['step_True'] / m['step_False']:>8.2f}{m['update_True']:>16.1f}{m['update_False']:>12.1f}"
              f"{m['update_True'] / m['update_False']:>8.2f}")
    if args.e2e_steps > 0:
        e2e(args)


if __name__ == "__main__":
    main()
