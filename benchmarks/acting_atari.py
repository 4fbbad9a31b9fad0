"""Atari acting throughput: the full acting path vs the bare emulator, same envs, same run.

Acting path (agent steps/s, summed over envs): Nature-CNN Q-network forward on the uint8 frame
stacks ``[E, 4, 84, 84]``, epsilon-greedy choice, ``AtariEnvMaker.make_train`` env step (ale-py's
threaded ``AtariVectorEnv`` behind rlkit's adapter: raw rewards, game_over, final_obs), and replay
insertion of the newest frame of each env into a preallocated uint8 ring of single frames
``[capacity, 84, 84]`` plus action / reward / terminal arrays. No learning.
The ``rlkit`` mode is the real thing: ``rlkit.training.loop.Trainer`` with learning switched off
(``learning_starts`` past the end), i.e. ``DQNAgent.act`` + the env + ``FrameStackStorage.add_step``
+ episode bookkeeping, timed by the loop itself (``summary["sps"]``). ``sync`` and ``pipelined``
use a stand-in single-frame ring to show what the policy/env split costs.

Reference (same process, same envs, same settings): the bare ``AtariVectorEnv`` inside that
adapter, stepped with uniformly random actions and nothing else. Printed: both rates, their ratio, and where the acting loop's time goes.

``sync`` is the training loop's pattern (policy, then env step, then insert). ``pipelined`` splits
the E envs into two vector envs of E/2 and computes one half's actions while ale-py's threads step
the other half (``send``/``recv``); every env still sees policy(obs) -> step -> insert in order.

    python benchmarks/acting_atari.py --game pong --num-envs 1 4 8 --steps 4000 --torch-threads 1 2
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from rlkit.envs.atari import AtariEnvMaker
from rlkit.networks.model import build_network
from rlkit.utils.runtime import available_cores


class FrameRing:
    """Preallocated single-frame ring: newest frame of each env + action, reward, terminal."""

    def __init__(self, capacity: int, frame_shape: tuple[int, ...]) -> None:
        self.frames = np.zeros((capacity, *frame_shape), dtype=np.uint8)  # [C, 84, 84]
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminals = np.zeros(capacity, dtype=bool)
        self.capacity, self.cursor = capacity, 0

    def add(self, frames: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminals: np.ndarray) -> None:
        n = len(frames)
        idx = (self.cursor + np.arange(n)) % self.capacity
        self.frames[idx] = frames
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminals[idx] = terminals
        self.cursor = (self.cursor + n) % self.capacity


def make_policy(net: torch.nn.Module, device: torch.device, num_actions: int, epsilon: float,
                rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Epsilon-greedy actions [E] for uint8 stacks [E, 4, 84, 84]."""

    def policy(obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        explore = rng.random(n) < epsilon
        actions = rng.integers(0, num_actions, n)
        if explore.all():
            return actions
        with torch.inference_mode():
            greedy = net.q_values(torch.from_numpy(obs).to(device, non_blocking=True)).argmax(dim=1).cpu().numpy()
        return np.where(explore, actions, greedy)

    return policy


def time_random(envs, steps: int, num_actions: int) -> float:
    """Agent steps/s of the bare ``ale_py.AtariVectorEnv`` (no rlkit adapter) with uniformly random actions."""
    rng = np.random.default_rng(0)
    n = envs.num_envs
    envs.reset(seed=np.arange(n))
    for _ in range(20):  # warm-up
        envs.step(rng.integers(0, num_actions, n))
    start = time.perf_counter()
    for _ in range(steps // n):
        envs.step(rng.integers(0, num_actions, n))
    return (steps // n) * n / (time.perf_counter() - start)


def time_sync(envs, policy, steps: int, clip: float) -> tuple[float, dict[str, float]]:
    """Agent steps/s of policy -> env step -> replay insert; seconds spent in each part."""
    n = envs.num_envs
    ring = FrameRing(100_000, (84, 84))
    obs, _ = envs.reset(seed=list(range(n)))
    parts = {"policy": 0.0, "env": 0.0, "replay": 0.0}
    iterations = steps // n
    for it in range(-20, iterations):  # 20 warm-up iterations
        t0 = time.perf_counter()
        actions = policy(obs)
        t1 = time.perf_counter()
        obs, rewards, terminated, _, _ = envs.step(actions)
        t2 = time.perf_counter()
        ring.add(obs[:, -1], actions, np.clip(rewards, -clip, clip), terminated)
        t3 = time.perf_counter()
        if it == 0:
            start = t0
        if it >= 0:
            parts["policy"] += t1 - t0
            parts["env"] += t2 - t1
            parts["replay"] += t3 - t2
    return iterations * n / (time.perf_counter() - start), parts


def time_pipelined(halves, policy, steps: int, clip: float) -> float:
    """Agent steps/s when one half's actions are computed while the other half steps."""
    a, b = halves
    n = a.num_envs + b.num_envs
    ring = FrameRing(100_000, (84, 84))
    obs_a, _ = a.reset(seed=list(range(a.num_envs)))
    obs_b, _ = b.reset(seed=list(range(a.num_envs, n)))
    act_a = policy(obs_a)
    a.send(act_a)
    iterations = steps // n
    for it in range(-20, iterations):
        if it == 0:
            start = time.perf_counter()
        act_b = policy(obs_b)  # overlaps with a's step
        obs_a, rew, term, _, _ = a.recv()
        b.send(act_b)
        ring.add(obs_a[:, -1], act_a, np.clip(rew, -clip, clip), term)
        act_a = policy(obs_a)  # overlaps with b's step
        obs_b, rew, term, _, _ = b.recv()
        a.send(act_a)
        ring.add(obs_b[:, -1], act_b, np.clip(rew, -clip, clip), term)
    elapsed = time.perf_counter() - start
    a.recv()
    return iterations * n / elapsed


def time_rlkit_loop(game: str, num_envs: int, steps: int, threads: int, epsilon: float) -> float:
    """Agent steps/s of rlkit's own training loop with no learning (Nature-CNN DQN policy)."""
    import tempfile

    import rlkit.components  # noqa: F401
    from rlkit.config import compose_config
    from rlkit.training.loop import Trainer

    overrides = [
        "env=atari", f"env.game={game}", f"env.num_envs={num_envs}", "agent=dqn", f"train.steps={steps}",
        f"train.learning_starts_steps={10 * steps}", "eval.every_steps=0", "eval.max_steps=1", "eval.episodes=1",
        f"torch_threads={threads}", "device=cpu", "replay.capacity=100000", f"epsilon.start={epsilon}",
        f"epsilon.end={epsilon}", f"train.log_every_steps={steps}", "logger.console.enabled=false",
        "logger.tensorboard.enabled=false", "logger.wandb.enabled=false",
    ]
    with tempfile.TemporaryDirectory() as run_dir:
        return float(Trainer(compose_config(overrides), run_dir).train()["sps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="pong")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=4_000, help="agent steps per measurement (summed over envs)")
    parser.add_argument("--epsilon", type=float, default=0.01, help="greedy forward pass on (almost) every step")
    parser.add_argument("--torch-threads", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="alternate random/acting runs, keep the best of each")
    args = parser.parse_args()
    device = torch.device(args.device)
    cores = available_cores()

    print(f"python {platform.python_version()}, torch {torch.__version__}, device {device}, cores available: {cores}, "
          f"game {args.game}, {args.steps} agent steps per run, epsilon {args.epsilon}, best of {args.repeats}")
    print("env: ale-py AtariVectorEnv via AtariEnvMaker (frame skip 4, max-pool, 84x84 grey, stack 4, sticky 0.25)")
    print("rlkit: the training loop with FrameStackStorage, no learning; sync/pipelined: stand-in uint8 frame ring")
    print(f"{'envs':>4} {'torch thr':>9} {'ale thr':>7} {'mode':>9} {'raw env SPS':>11} {'acting SPS':>10} {'ratio':>6}"
          "   acting time: policy/env/replay")
    for num_envs in args.num_envs:
        maker = AtariEnvMaker(game=args.game, num_envs=num_envs)
        num_actions = maker.spec.num_actions
        clip = maker.spec.reward_clip or float("inf")
        envs = maker.make_train(seed=0)
        halves = None
        if num_envs >= 2:
            half_threads = max(1, maker.num_threads // 2)
            halves = [AtariEnvMaker(game=args.game, num_envs=num_envs // 2, num_threads=half_threads).make_train(seed=s)
                      for s in (0, 1)]
        net = build_network(
            torso_cfg={"name": "nature_cnn"}, head_cfg={"name": "q", "hidden_sizes": [512]},
            layer_cfg={"name": "linear"}, obs_shape=maker.spec.obs_shape, num_actions=num_actions,
        ).to(device).eval()
        for threads in args.torch_threads:
            torch.set_num_threads(threads)
            policy = make_policy(net, device, num_actions, args.epsilon, np.random.default_rng(0))
            best = {"random": 0.0, "sync": 0.0, "pipelined": 0.0, "rlkit": 0.0}
            best_parts: dict[str, float] = {}
            for _ in range(args.repeats):
                best["random"] = max(best["random"], time_random(envs.env, args.steps, num_actions))
                sps, parts = time_sync(envs, policy, args.steps, clip)
                if sps > best["sync"]:
                    best["sync"], best_parts = sps, parts
                if halves is not None:
                    best["pipelined"] = max(best["pipelined"], time_pipelined(halves, policy, args.steps, clip))
            total = sum(best_parts.values())
            split = "/".join(f"{100 * v / total:.0f}%" for v in best_parts.values())
            best["rlkit"] = max(time_rlkit_loop(args.game, num_envs, args.steps, threads, args.epsilon)
                                for _ in range(args.repeats))
            torch.set_num_threads(threads)
            modes = [("rlkit", "-"), ("sync", split)] + ([("pipelined", "-")] if halves is not None else [])
            for mode, detail in modes:
                print(f"{num_envs:>4} {threads:>9} {maker.num_threads:>7} {mode:>9} {best['random']:>11.0f} "
                      f"{best[mode]:>10.0f} {best[mode] / best['random']:>6.2f}   {detail}")
        envs.close()
        for half in halves or []:
            half.close()


if __name__ == "__main__":
    main()
