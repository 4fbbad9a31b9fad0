"""Speed-up of local parallel sweeps: the same small CartPole grid run one job at a time and in parallel.

Modes (each a real ``rlkit-train -m`` subprocess over the same grid, ``torch_threads=auto``):

* ``sequential``: Hydra's basic launcher, one job at a time, each job using all available cores.
* ``parallel``: ``hydra/launcher=local_parallel`` (joblib) with ``--n-jobs`` jobs at once; the preset
  passes n_jobs to the jobs (``RLKIT_PARALLEL_JOBS``), so each job uses cores // n_jobs threads.
* ``naive`` (``--naive``): the plugin's plain ``hydra/launcher=joblib`` preset, n_jobs at once but
  every job taking all cores: the oversubscription the ``local_parallel`` preset avoids. Slow.

Prints each mode's wall time (whole sweep), the mean per-run training time and agent steps/s from the
runs' ``summary.json``, and the speed-up ``sequential wall / parallel wall``. Modes alternate over
``--repeats`` (medians reported), so load from other processes shows as spread, not as bias.

    python benchmarks/launcher_speedup.py --steps 5000 --seeds 0 1 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rlkit.utils.runtime import PARALLEL_JOBS_ENV, available_cores

QUIET = ["logger.console.enabled=false", "logger.tensorboard.enabled=false", "logger.wandb.enabled=false"]
LAUNCHERS = {"sequential": [], "parallel": ["hydra/launcher=local_parallel"], "naive": ["hydra/launcher=joblib"]}


def run_sweep(mode: str, args: argparse.Namespace, sweep_dir: Path) -> dict[str, Any]:
    """One ``rlkit-train -m`` over the grid; wall time and the runs' own figures."""
    exe = Path(sys.executable).parent / "rlkit-train"
    overrides = [
        "-m", *LAUNCHERS[mode], f"experiment={','.join(args.experiments)}", f"seed={','.join(map(str, args.seeds))}",
        f"train.steps={args.steps}", f"eval.every_steps={args.eval_every}", f"eval.episodes={args.eval_episodes}",
        f"hydra.sweep.dir={sweep_dir}", *QUIET,
    ]
    if mode != "sequential":
        overrides.append(f"hydra.launcher.n_jobs={args.n_jobs}")
    env = dict(os.environ, WANDB_MODE="disabled", MPLBACKEND="Agg")
    env.pop(PARALLEL_JOBS_ENV, None)
    start = time.perf_counter()
    proc = subprocess.run([str(exe), *overrides], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} sweep failed:\n{proc.stderr[-3000:]}")
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.rglob("summary.json"))]
    expected = len(args.experiments) * len(args.seeds)
    if len(summaries) != expected:
        raise RuntimeError(f"{mode}: {len(summaries)} finished runs, expected {expected}")
    return {
        "wall_s": wall,
        "run_wall_s": statistics.mean(s["wall_time_s"] for s in summaries),
        "run_sps": statistics.mean(s["steps"] / s["wall_time_s"] for s in summaries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=["ablation_full", "ablation_no_noisy"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=5_000, help="agent steps per run")
    parser.add_argument("--eval-every", type=int, default=0, help="agent steps between evaluations (0: final only)")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--naive", action="store_true", help="also run n_jobs all-core jobs at once (slow)")
    args = parser.parse_args()
    if args.n_jobs < 1:
        parser.error(f"--n-jobs must be >= 1, got {args.n_jobs}")

    modes = ["sequential", "parallel"] + (["naive"] if args.naive else [])
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="rlkit-launchers-") as tmp:
        for repeat in range(args.repeats):
            for mode in modes if repeat % 2 == 0 else modes[::-1]:
                results[mode].append(run_sweep(mode, args, Path(tmp) / f"{mode}-{repeat}"))

    runs = len(args.experiments) * len(args.seeds)
    print(f"grid: {runs} CartPole runs ({', '.join(args.experiments)} x seeds {args.seeds}), {args.steps} steps each; "
          f"{available_cores()} cores, n_jobs={args.n_jobs}, repeats={args.repeats} (medians)")
    median = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in results.items()}
    for mode, row in median.items():
        print(f"  {mode:<10} sweep wall {row['wall_s']:8.1f} s   per run {row['run_wall_s']:7.1f} s   "
              f"{row['run_sps']:7.1f} agent steps/s per run")
    print(f"speed-up parallel vs sequential: {median['sequential']['wall_s'] / median['parallel']['wall_s']:.2f}x")
    if "naive" in median:
        print(f"parallel vs naive (no core split): {median['naive']['wall_s'] / median['parallel']['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
