"""Checkpoint size and time for a full 1M-transition Atari replay (frame store + PER), with memory.

Fills a ``frame_stack`` store (84x84 uint8 frames, 8 envs, 3-step) and a prioritized sampler of
``--capacity`` through ``add_step``, then:

* saves a checkpoint with :func:`rlkit.training.checkpoint.save_checkpoint` and reports its time,
  size on disk and the peak resident memory added while saving (a second in-memory copy of the
  store would show up here as ~7 GB);
* writes the same arrays with a bare ``ndarray.tofile`` + fsync in the same run, the floor for
  writing those bytes on this disk, and prints the ratio;
* loads the checkpoint into a fresh store (memory-mapped read, copied in place) and reports the
  time and the anonymous memory it holds afterwards.

    python benchmarks/checkpoint_atari.py --dir /path/on/the/disk/to/measure   # ~7 GB RAM, ~14 GB disk
    python benchmarks/checkpoint_atari.py --capacity 100_000                    # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from replay_memory import fill, proc_status_kb

from rlkit.replay import FrameStackStorage, PrioritizedSampler, ReplayBuffer
from rlkit.training import checkpoint as ckpt

GB = 1e9


def reset_peak() -> None:
    """Reset VmHWM to the current resident size (Linux: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_replay(args: argparse.Namespace) -> ReplayBuffer:
    storage = FrameStackStorage(capacity=args.capacity, obs_shape=(4, 84, 84), obs_dtype="uint8",
                                num_envs=args.num_envs, n_step=3, gamma=0.99, padding="zeros")
    return ReplayBuffer(storage=storage, sampler=PrioritizedSampler(capacity=args.capacity, seed=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rlkit-ckpt-bench-", dir=args.dir))
    try:
        replay = make_replay(args)
        storage = replay.storage
        rng = np.random.default_rng(0)
        # add_step through the buffer so the sampler gets every slot with a priority
        original_add, sampler = storage.add_step, replay.sampler

        def add_and_prioritise(*step):
            update = original_add(*step)
            sampler.on_remove(update.removed)
            sampler.on_add(update.added)
            return update

        storage.add_step = add_and_prioritise
        start = time.perf_counter()
        fill(storage, steps=storage.rows_per_env + 2_000, episode_steps=1_000.0, rng=rng)
        fill_s = time.perf_counter() - start
        del storage.add_step
        state = {"replay": replay.state_dict()}
        store_bytes = storage.nbytes

        gc.collect()
        rss = proc_status_kb("VmRSS") * 1024
        reset_peak()
        start = time.perf_counter()
        path = ckpt.save_checkpoint(root / "run", 1, state)
        save_s = time.perf_counter() - start
        save_peak = proc_status_kb("VmHWM") * 1024 - rss
        on_disk = dir_bytes(path)

        raw_dir = root / "raw"
        raw_dir.mkdir()
        start = time.perf_counter()
        for name, value in state["replay"]["storage"].items():
            if isinstance(value, np.ndarray):
                with open(raw_dir / name, "wb") as f:
                    value.tofile(f)
                    f.flush()
                    os.fsync(f.fileno())
        raw_s = time.perf_counter() - start
        shutil.rmtree(raw_dir)

        del state, replay, storage
        gc.collect()
        fresh = make_replay(args)
        anon_before = proc_status_kb("RssAnon") * 1024
        start = time.perf_counter()
        loaded = ckpt.load_checkpoint(path)
        fresh.load_state_dict(loaded["replay"])
        del loaded
        gc.collect()
        load_s = time.perf_counter() - start
        anon_after = proc_status_kb("RssAnon") * 1024

        print(f"checkpoint of a {args.capacity:,}-transition frame_stack replay + PER ({args.num_envs} envs), "
              f"filled in {fill_s:.0f} s; written under {root}")
        rows = [
            ("store arrays in memory", f"{store_bytes / GB:.3f} GB"),
            ("checkpoint on disk", f"{on_disk / GB:.3f} GB"),
            ("save time (fsynced, atomic)", f"{save_s:.1f} s"),
            ("bare tofile + fsync of the same arrays", f"{raw_s:.1f} s"),
            ("save / bare write", f"{save_s / raw_s:.2f}x"),
            ("save throughput", f"{on_disk / GB / save_s:.2f} GB/s"),
            ("peak memory added while saving", f"{save_peak / GB:.3f} GB"),
            ("load time (mmap read + copy in place)", f"{load_s:.1f} s"),
            ("anonymous memory added by loading (the store)", f"{(anon_after - anon_before) / GB:.3f} GB"),
        ]
        for name, value in rows:
            print(f"{name:<44}{value:>16}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
