"""Fast-path knobs of the learner, on vs off: the same agent and batch, each knob's two sides alternating.

* ``fused``: ``optim.fused`` (Adam presets: DER, Rainbow, DrQ(ε), the MinAtar agents). torch's default Adam
  on a CPU is a Python loop over the parameter tensors with several passes each; the fused kernel does one.
  Also timed: the optimiser step alone (gradients set once).
* ``channels_last``: ``network.torso.channels_last`` (the convolutional torsos: Nature CNN, DER's): kernels
  and activations in NHWC memory order, oneDNN's preferred layout on CPUs.
* ``bf16``: ``network.torso.compute_dtype=bfloat16`` vs ``float32`` (the same torsos): the convolutions in
  bfloat16 under autocast. Unlike the two above it changes the numbers (a different experiment).

For each knob and preset, two agents are built from one config and seed (identical weights), one with the
knob on, one off; rounds alternate between them and the medians are compared: learner updates/s of
``DQNAgent.update`` on one batch of the preset's input shape. Ratio on/off above 1: the knob pays. With
``--e2e-steps N``, also DER on Pong end to end per knob: the training loop's agent steps/s over N steps
after learning starts (``e2e_common.run_rlkit_timed``, one worker subprocess per run), the two sides
alternating over ``--e2e-rounds`` rounds (medians).

    python benchmarks/learner_knobs.py                          # every knob, its presets, CPU, 1 thread
    python benchmarks/learner_knobs.py --e2e-steps 2000         # ... and DER end to end (~8 min more)
    python benchmarks/learner_knobs.py --device cuda --knobs fused --presets der rainbow
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

PRESETS = {  # name: overrides
    "dqn": ["env=atari", "env.game=pong", "agent=dqn"],
    "der": ["experiment=atari100k_der", "env.game=pong"],
    "drq_eps": ["experiment=atari100k_drq_eps", "env.game=pong"],
    "rainbow": ["env=atari", "env.game=pong", "agent=rainbow"],
    "minatar_rainbow": ["experiment=minatar_rainbow", "env.game=breakout"],
    "minatar_dqn": ["experiment=minatar_dqn", "env.game=breakout"],
}
CONV_PRESETS = ("dqn", "der", "drq_eps", "rainbow")
KNOBS = {  # name: (override key, its values on and off, presets it applies to by default)
    "fused": ("optim.fused", "true", "false", ("der", "rainbow", "minatar_rainbow", "minatar_dqn")),
    "channels_last": ("+network.torso.channels_last", "true", "false", CONV_PRESETS),
    "bf16": ("+network.torso.compute_dtype", "bfloat16", "float32", CONV_PRESETS),
}


def knob_override(knob: str, on: bool) -> str:
    key, on_value, off_value, _ = KNOBS[knob]
    return f"{key}={on_value if on else off_value}"


def knob_on(agent: Any, knob: str) -> bool:
    """Whether the built agent has ``knob`` on (read back from the parts, not from the config)."""
    if knob == "fused":
        return bool(agent.optimizer.param_groups[0]["fused"])
    if knob == "bf16":
        return agent.online.torso.compute_dtype == "bfloat16"
    return bool(agent.online.torso.channels_last)


def make_batch(spec: Any, batch_size: int, device: torch.device) -> Batch:
    """A batch of uint8 observations of the env's shape, random actions and rewards (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    shape = (batch_size, *spec.obs_shape)
    high = 256 if spec.obs_dtype == "uint8" else 2
    return Batch(
        obs=torch.randint(0, high, shape, dtype=torch.uint8, generator=g).to(device),
        actions=torch.randint(0, spec.num_actions, (batch_size,), generator=g).to(device),
        rewards=torch.randn(batch_size, generator=g).to(device),
        next_obs=torch.randint(0, high, shape, dtype=torch.uint8, generator=g).to(device),
        discounts=torch.full((batch_size,), 0.99**3).to(device),
        weights=torch.ones(batch_size).to(device),
        indices=torch.arange(batch_size).numpy(),
    )


def build(preset: str, knob: str, on: bool, device: torch.device) -> tuple[Any, Batch]:
    cfg = compose_config([*PRESETS[preset], knob_override(knob, on)])
    env_maker = registry.build("env", cfg.env)
    torch.manual_seed(0)
    agent = build_agent(cfg, env_maker, device)
    assert knob_on(agent, knob) is on, (preset, knob, on)
    return agent, make_batch(env_maker.spec, cfg.agent.batch_size, device)


def measure(preset: str, knob: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    agents = {on: build(preset, knob, on, device) for on in (True, False)}
    for agent, batch in agents.values():
        for _ in range(3):  # warm-up; creates the optimiser state
            agent.update(batch)
    sides = {f"update_{on}": (lambda a=agent, b=batch: timed(lambda: a.update(b), args.updates, device))
             for on, (agent, batch) in agents.items()}
    if knob == "fused":
        sides |= {f"step_{on}": (lambda a=agent: timed(a.optimizer.step, args.updates, device))
                  for on, (agent, _) in agents.items()}
    return {**rounds(sides, args.repeats), "params": sum(p.numel() for p in agents[True][0].online.parameters())}


def e2e_worker(p: dict[str, Any]) -> dict[str, Any]:
    """Worker: DER on Pong, agent steps/s after learning starts, with the knob as given."""
    base = ["experiment=atari100k_der", "env.game=pong", knob_override(p["knob"], p["on"])]
    overrides = rlkit_run_overrides(base, learning_starts=p["learning_starts"], steps_after=p["steps"],
                                    threads=p["threads"])
    clock, trainer = run_rlkit_timed(overrides, p["learning_starts"])
    assert knob_on(trainer.parts.agent, p["knob"]) is p["on"]
    return {"sps": clock.sps}


def e2e(knob: str, args: argparse.Namespace) -> None:
    runs: dict[bool, list[float]] = {True: [], False: []}
    for round_index in range(args.e2e_rounds):
        for on in round_order((True, False), round_index):
            params = {"knob": knob, "on": on, "steps": args.e2e_steps, "learning_starts": 1_600,
                      "threads": args.torch_threads}
            runs[on].append(run_worker(Path(__file__), "e2e", params)["sps"])
            print(f"  round {round_index + 1} DER e2e {knob_override(knob, on).lstrip('+'):<40} {runs[on][-1]:8.1f} "
                  "agent steps/s",
                  flush=True)
    on, off = median(runs[True]), median(runs[False])
    print(f"DER on Pong end to end, {knob}: {args.e2e_steps} agent steps after learning starts (1,600), medians of "
          f"{args.e2e_rounds} rounds: on {on:.1f} ({spread(runs[True])}), off {off:.1f} ({spread(runs[False])}) "
          f"agent steps/s, ratio {on / off:.2f}")


def main() -> None:
    if worker_main({"e2e": e2e_worker}, sys.argv[1:]):
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knobs", nargs="+", default=list(KNOBS), choices=list(KNOBS))
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS), help="default: each knob's presets")
    parser.add_argument("--updates", type=int, default=20, help="steps or updates per timed round")
    parser.add_argument("--repeats", type=int, default=7, help="alternating rounds per side (medians)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--e2e-steps", type=int, default=0, help="DER end to end: agent steps timed per run (0: off)")
    parser.add_argument("--e2e-rounds", type=int, default=3, help="alternating end-to-end rounds (medians)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    print(f"learner knobs: device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load {os.getloadavg()[0]:.1f}")
    for knob in args.knobs:
        key, on_value, off_value, presets = KNOBS[knob]
        step = knob == "fused"
        print(f"\n{knob} ({key.lstrip('+')}): on ({on_value}) vs off ({off_value})")
        print(f"{'preset':<17}{'params':>10}" + (f"{'step/s on':>12}{'off':>10}{'ratio':>8}" if step else "")
              + f"{'update/s on':>14}{'off':>10}{'ratio':>8}")
        for preset in args.presets or presets:
            m = measure(preset, knob, args, device)
            cells = (f"{m['step_True']:>12.1f}{m['step_False']:>10.1f}{m['step_True'] / m['step_False']:>8.2f}"
                     if step else "")
            print(f"{preset:<17}{m['params']:>10,}{cells}{m['update_True']:>14.1f}{m['update_False']:>10.1f}"
                  f"{m['update_True'] / m['update_False']:>8.2f}")
        if args.e2e_steps > 0:
            e2e(knob, args)


if __name__ == "__main__":
    main()
