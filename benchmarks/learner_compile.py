"""``compile=true`` vs eager: the learner's update and the acting forward, same agent, same batch.

Two agents are built from one config and one seed (identical weights); one has its networks compiled
(``DQNAgent.compile_networks``, what ``compile=true`` does). After a warm-up that pays the compilation
(its time is printed), rounds alternate between the two sides and the medians are compared:
updates/s on a batch of Atari stacks (4x84x84 uint8, Nature CNN) and actions/s on ``--act-batch``
observations. The ratio compiled/eager above 1 means compile pays on this machine and device.

    python benchmarks/learner_compile.py                          # dqn and rainbow, CPU, 1 thread
    python benchmarks/learner_compile.py --device cuda --agents dqn rainbow der
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from learner_atari import make_batch, timed

import rlkit.components  # noqa: F401  (registers the built-in parts)
from rlkit import registry
from rlkit.config import compose_config
from rlkit.training.builder import build_agent


def build_pair(agent_name: str, batch_size: int, device: torch.device) -> tuple[object, object, int]:
    """(eager agent, compiled agent, number of actions): same config, same seed, same weights."""
    cfg = compose_config(["env=atari", "env.game=pong", f"agent={agent_name}", f"agent.batch_size={batch_size}"])
    env_maker = registry.build("env", cfg.env)
    agents = []
    for _ in range(2):
        torch.manual_seed(0)
        agents.append(build_agent(cfg, env_maker, device))
    agents[1].compile_networks()
    return agents[0], agents[1], env_maker.spec.num_actions


def rounds(sides: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median of ``repeats`` alternating measurements per side."""
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, measure in sides.items():
            results[name].append(measure())
    return {name: statistics.median(values) for name, values in results.items()}


def measure(agent_name: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    eager, compiled, num_actions = build_pair(agent_name, args.batch, device)
    batch = make_batch(args.batch, num_actions, device)
    obs = np.random.default_rng(0).integers(0, 256, (args.act_batch, 4, 84, 84), dtype=np.uint8)
    start = time.perf_counter()
    for _ in range(3):  # the compiled side traces and compiles here (update, then the acting forward)
        compiled.update(batch)
        compiled.act(obs, step=10**9)
    compile_s = time.perf_counter() - start
    for _ in range(3):
        eager.update(batch)
        eager.act(obs, step=10**9)
    updates = rounds({
        "eager": lambda: timed(lambda: eager.update(batch), args.updates, device),
        "compiled": lambda: timed(lambda: compiled.update(batch), args.updates, device),
    }, args.repeats)
    acts = rounds({
        "eager": lambda: args.act_batch * timed(lambda: eager.act(obs, step=10**9), args.acts, device),
        "compiled": lambda: args.act_batch * timed(lambda: compiled.act(obs, step=10**9), args.acts, device),
    }, args.repeats)
    return {"compile_s": compile_s, "upd_eager": updates["eager"], "upd_compiled": updates["compiled"],
            "act_eager": acts["eager"], "act_compiled": acts["compiled"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "rainbow"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--act-batch", type=int, default=8, help="observations per acting call (envs)")
    parser.add_argument("--updates", type=int, default=20, help="updates per timed round")
    parser.add_argument("--acts", type=int, default=50, help="acting calls per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds per side (medians)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    print(f"compile vs eager: batch {args.batch}, act batch {args.act_batch}, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print(f"{'agent':<10}{'compile s':>10}{'eager upd/s':>13}{'comp upd/s':>12}{'ratio':>8}"
          f"{'eager act/s':>13}{'comp act/s':>12}{'ratio':>8}")
    for name in args.agents:
        m = measure(name, args, device)
        print(f"{name:<10}{m['compile_s']:>10.1f}{m['upd_eager']:>13.1f}{m['upd_compiled']:>12.1f}"
              f"{m['upd_compiled'] / m['upd_eager']:>8.3f}{m['act_eager']:>13.1f}{m['act_compiled']:>12.1f}"
              f"{m['act_compiled'] / m['act_eager']:>8.3f}")


if __name__ == "__main__":
    main()
