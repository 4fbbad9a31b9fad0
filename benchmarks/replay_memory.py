"""Resident memory and sampling speed of the frame-deduplicating replay store (``frame_stack``).

Fills a FrameStackStorage of ``--capacity`` rows with synthetic 84x84 frame stacks through
``add_step`` (``--num-envs`` envs in lockstep, random episode ends), so every page of the store is
written, then reports the process's resident memory (VmRSS from /proc/self/status) against the
floor of one frame per transition (1M x 84 x 84 B = 7.06 GB) and against the 56 GB that storing
obs + next_obs stacks would take; and the time to add one vector step and to rebuild a batch of
stacks and n-step targets.

    python benchmarks/replay_memory.py                      # 1M transitions: needs ~7.1 GB of RAM
    python benchmarks/replay_memory.py --capacity 100_000   # a quick run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from rlkit.replay import FrameStackStorage, PrioritizedSampler, ReplayBuffer, UniformSampler

GB = 1e9


def proc_status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def fill(storage: FrameStackStorage, *, steps: int, episode_steps: float, rng: np.random.Generator) -> float:
    """Drive ``steps`` vector steps of synthetic stacks (zero-padded resets); returns us per add_step."""
    num_envs, stack = storage.num_envs, storage.stack
    pool = rng.integers(1, 256, size=(257, *storage.frame_shape), dtype=np.uint8)  # distinct frames
    obs = np.zeros((num_envs, stack, *storage.frame_shape), dtype=np.uint8)  # [E, S, H, W]
    obs[:, -1] = pool[:num_envs]
    nxt = np.empty_like(obs)
    frame = num_envs
    spent = 0.0
    for _ in range(steps):
        nxt[:, :-1] = obs[:, 1:]
        nxt[:, -1] = pool[(frame + np.arange(num_envs)) % len(pool)]
        frame += num_envs
        end = rng.random(num_envs) < 1.0 / episode_steps
        terminated = end & (rng.random(num_envs) < 0.5)
        actions = rng.integers(0, 18, size=num_envs)
        rewards = rng.normal(size=num_envs).astype(np.float32)
        start = time.perf_counter()
        storage.add_step(obs, actions, rewards, nxt, terminated, end & ~terminated)
        spent += time.perf_counter() - start
        obs, nxt = nxt, obs  # the next obs continues nxt; reset envs start a zero-padded stack
        if end.any():
            obs[end, :-1] = 0
    return spent / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000, help="rows (transitions) in the store")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--stack", type=int, default=4, help="frames per observation")
    parser.add_argument("--size", type=int, default=84, help="frame height and width")
    parser.add_argument("--n-step", type=int, default=3)
    parser.add_argument("--episode-steps", type=float, default=1_000.0, help="mean episode length (agent steps)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2_000, help="timed sampling calls")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    frame_bytes = args.size * args.size
    floor = args.capacity * frame_bytes  # one uint8 frame per transition
    naive = args.capacity * 2 * args.stack * frame_bytes  # obs + next_obs stacks per transition
    rss_before = proc_status_kb("VmRSS") * 1024
    storage = FrameStackStorage(
        capacity=args.capacity,
        obs_shape=(args.stack, args.size, args.size),
        obs_dtype="uint8",
        num_envs=args.num_envs,
        n_step=args.n_step,
        gamma=0.99,
        padding="zeros",
    )
    rss_empty = proc_status_kb("VmRSS") * 1024
    steps = storage.rows_per_env + 2_000  # >= 1 row per env and step: every row written, then wrapped
    start = time.perf_counter()
    add_us = fill(storage, steps=steps, episode_steps=args.episode_steps, rng=rng)
    fill_s = time.perf_counter() - start
    rss_full = proc_status_kb("VmRSS") * 1024
    peak = proc_status_kb("VmHWM") * 1024
    resident = rss_full - rss_before

    slots = np.flatnonzero(storage.valid(np.arange(storage.capacity)))
    batches = [rng.choice(slots, size=args.batch) for _ in range(64)]
    it = iter(range(10**9))
    get_us = median_us(lambda: storage.get(batches[next(it) % 64]), args.repeats)
    uniform = ReplayBuffer(storage=storage, sampler=UniformSampler(capacity=args.capacity, seed=args.seed))
    sample_us = median_us(lambda: uniform.sample(args.batch, "cpu"), args.repeats)
    per_sampler = PrioritizedSampler(capacity=args.capacity, seed=args.seed)
    per_sampler.on_add(slots)
    per = ReplayBuffer(storage=storage, sampler=per_sampler)
    per_us = median_us(lambda: per.sample(args.batch, "cpu"), args.repeats)

    print(
        f"frame_stack replay: capacity {args.capacity:,} rows, {args.num_envs} envs, stack {args.stack} x "
        f"{args.size}x{args.size} uint8, n_step {args.n_step}; python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    print(
        f"filled with {steps:,} vector steps ({storage.rows_written.sum():,} rows written) in {fill_s:.1f} s; "
        f"{len(storage):,} sampleable transitions"
    )
    print(f"{'quantity':<44}{'value':>16}")
    print("-" * 60)
    rows = [
        ("store arrays (nbytes)", f"{storage.nbytes / GB:.3f} GB"),
        ("resident after construction (VmRSS delta)", f"{(rss_empty - rss_before) / GB:.3f} GB"),
        ("resident when full (VmRSS delta)", f"{resident / GB:.3f} GB"),
        ("process peak resident (VmHWM)", f"{peak / GB:.3f} GB"),
        ("floor: one frame per transition", f"{floor / GB:.3f} GB"),
        ("resident / floor", f"{resident / floor:.4f}x"),
        ("naive obs + next_obs stacks", f"{naive / GB:.2f} GB"),
        ("naive / resident", f"{naive / resident:.2f}x"),
        (f"add_step, one vector step of {args.num_envs} envs", f"{add_us:.1f} us"),
        (f"get, batch {args.batch} (obs + next_obs stacks)", f"{get_us:.1f} us"),
        (f"buffer.sample {args.batch}, uniform (CPU tensors)", f"{sample_us:.1f} us"),
        (f"buffer.sample {args.batch}, prioritized (CPU tensors)", f"{per_us:.1f} us"),
    ]
    for name, value in rows:
        print(f"{name:<44}{value:>16}")


if __name__ == "__main__":
    main()
