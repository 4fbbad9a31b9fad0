"""Run every benchmark and write BENCHMARKS.md: the machine, the versions, the date, and each benchmark's
printed figures under the exact command that printed them.

Each benchmark measures its ratios side by side in one run (alternating the two sides, medians), so the
file holds ratios first; absolute times are context. A benchmark that fails is recorded with its exit
status and the run goes on; the exit status of this script is then 1. A benchmark whose comparison library
is not installed (``pip install 'rlkit[bench]'``) exits with status 77 and is recorded as skipped, which
does not fail the run.

    python benchmarks/run_all.py                      # every benchmark, full sizes (tens of minutes)
    python benchmarks/run_all.py --quick              # small sizes: checks that each one runs (figures are noise)
    python benchmarks/run_all.py --only replay_per learner_atari --out /tmp/B.md
    python benchmarks/run_all.py --gpu                # also the learner on CUDA (where there is a GPU)

Run it on a quiet machine: anything else using the cores shows up in every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from e2e_common import SKIPPED_EXIT

REPO = Path(__file__).resolve().parents[1]
NOISE = ("A.L.E: Arcade Learning Environment", "[Powered by Stella]")  # ale-py's banner


@dataclass(frozen=True)
class Benchmark:
    name: str
    what: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    gpu: bool = False  # run only with --gpu
    script: str = ""  # benchmarks/<script>; default <name>.py

    def command(self, quick: bool) -> list[str]:
        script = self.script or f"{self.name}.py"
        return [sys.executable, f"benchmarks/{script}", *(self.quick_args if quick else self.args)]


BENCHMARKS = (
    Benchmark("replay_per", "prioritised replay at 2^20: sample and update, batch 32 and 512, vs a per-item "
              "Python sum-tree and vs cpprb", (), ("--capacity", "4096", "--repeats", "20", "--rounds", "1")),
    Benchmark("replay_memory", "resident bytes of a 1M-transition Atari frame store", (),
              ("--capacity", "20000", "--repeats", "50")),
    Benchmark("learner_atari", "one gradient update vs a bare PyTorch loop, same network and batch (CPU)",
              ("--torch-threads", "1"), ("--updates", "2", "--repeats", "1", "--torch-threads", "1")),
    Benchmark("learner_atari_cuda", "one gradient update vs a bare PyTorch loop on CUDA",
              ("--device", "cuda"), ("--device", "cuda", "--updates", "2", "--repeats", "1"), gpu=True,
              script="learner_atari.py"),
    Benchmark("learner_compile", "compile=true vs eager: updates/s and acting forwards/s, same agent and batch (CPU)",
              (), ("--agents", "dqn", "--updates", "2", "--acts", "3", "--repeats", "1")),
    Benchmark("learner_compile_cuda", "compile=true vs eager on CUDA", ("--device", "cuda", "--agents", "dqn", "rainbow", "der"),
              ("--device", "cuda", "--agents", "dqn", "--updates", "2", "--acts", "3", "--repeats", "1"), gpu=True,
              script="learner_compile.py"),
    Benchmark("learner_knobs", "the learner's fast-path knobs on vs off (fused Adam, channels-last and bfloat16 conv torsos): "
              "updates/s of the presets they apply to, same agent and batch, and DER end to end (CPU)",
              ("--e2e-steps", "2000"), ("--presets", "der", "--updates", "2", "--repeats", "1")),
    Benchmark("learner_knobs_cuda", "the learner's fast-path knobs on vs off on CUDA",
              ("--device", "cuda", "--presets", "der", "rainbow"),
              ("--device", "cuda", "--presets", "der", "--updates", "2", "--repeats", "1"), gpu=True,
              script="learner_knobs.py"),
    Benchmark("acting_atari", "the acting loop vs the raw AtariVectorEnv, and its ceilings",
              ("--num-envs", "1", "8", "--torch-threads", "1"),
              ("--num-envs", "1", "--steps", "300", "--repeats", "1")),
    Benchmark("checkpoint_atari", "checkpoint size, time and peak memory of a 1M Atari replay", (),
              ("--capacity", "20000", "--num-envs", "2")),
    Benchmark("threads_under_load", "training speed per thread setting, idle and beside a busy process", (),
              ("--cases", "cartpole", "--settings", "auto", "1", "--rounds", "1", "--steps", "1500")),
    Benchmark("launcher_speedup", "joblib launcher vs sequential runs of a CartPole grid", (),
              ("--steps", "1500", "--seeds", "0", "--eval-episodes", "1")),
    Benchmark("e2e_sb3", "DQN on Pong end to end vs Stable-Baselines3: agent steps/s after learning starts, and the "
              "memory of a 1M replay (needs the bench extra); also rlkit with pipelined acting, with compile=true and with "
              "the learner in a thread",
              ("--torch-threads", "1", "2", "--pipelined", "--compiled", "--learner-thread", "--warmup", "200"),
              ("--learning-starts", "100", "--steps", "100", "--rounds", "1", "--memory-transitions", "1000",
               "--pipelined", "--compiled", "--learner-thread", "--warmup", "20")),
    Benchmark("e2e_sb3_cuda", "DQN on Pong end to end vs Stable-Baselines3, both on CUDA (speed; rlkit also pipelined "
              "and with the learner in a thread)",
              ("--device", "cuda", "--torch-threads", "1", "--pipelined", "--learner-thread", "--skip-memory"),
              ("--device", "cuda", "--learning-starts", "100", "--steps", "100", "--rounds", "1", "--skip-memory"),
              gpu=True, script="e2e_sb3.py"),
    Benchmark("e2e_bound", "DER (Atari 100k) and Rainbow on Pong end to end vs the synchronous bound from the "
              "loop's parts' times", (),
              ("--learning-starts", "200", "--steps", "60", "--rounds", "1", "--part-calls", "5")),
)


def machine() -> list[str]:
    """Lines describing the machine and the software versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f", {total_kb / 2**20:.0f} GiB memory"
    except (OSError, IndexError, ValueError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"- machine: {cpu}, {cores} cores available{memory}, {platform.system()} {platform.release()}"]
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        lines.append(f"- GPU: {gpu}")
    except ImportError:
        pass
    versions = []
    for package in ("torch", "numpy", "gymnasium", "ale-py", "hydra-core", "stable-baselines3", "cpprb"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    lines.append(f"- Python {platform.python_version()}; {', '.join(versions)}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True, check=False).stdout.strip()
    if commit:
        lines.append(f"- rlkit commit {commit}{' (with uncommitted changes)' if dirty else ''}")
    lines.append(f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    return lines


def run(benchmark: Benchmark, quick: bool, timeout: float) -> tuple[str, int, float]:
    """``(printed output, exit status, wall seconds)``; ale-py's banner lines are dropped."""
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(benchmark.command(quick), cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        output, status = proc.stdout + (f"\n{proc.stderr.strip()[-3000:]}" if proc.returncode else ""), proc.returncode
    except subprocess.TimeoutExpired as err:
        output, status = f"{err.stdout or ''}\n(timed out after {timeout:.0f} s)", 124
    kept = [line for line in output.splitlines() if not line.startswith(NOISE)]
    return "\n".join(kept).strip(), status, time.perf_counter() - start


def status_word(status: int) -> str:
    """How a benchmark's nonzero exit status is recorded."""
    return "skipped: a comparison library is not installed" if status == SKIPPED_EXIT else "failed"


def report(results: list[tuple[Benchmark, str, int, float]], quick: bool) -> str:
    intro = ("Written by `python benchmarks/run_all.py" + (" --quick" if quick else "") + "`. Each benchmark "
             "compares two sides measured in the same run (alternating, medians); the ratios are the figures to "
             "compare across machines.")
    lines = ["# Benchmarks", "", intro, ""]
    if quick:
        lines += [("**Quick mode: small sizes to check that every benchmark runs. These figures are not "
                   "measurements.**"), ""]
    lines += machine() + [""]
    for benchmark, output, status, seconds in results:
        command = shlex.join(["python", *benchmark.command(quick)[1:]])
        state = "" if status == 0 else f" — **{status_word(status)} (exit {status})**"
        lines += [f"## {benchmark.name}{state}", "", benchmark.what + f". {seconds:.0f} s.", "",
                  f"Command: `{command}`", "", "```", output or "(no output)", "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check that each benchmark runs")
    parser.add_argument("--gpu", action="store_true", help="also the CUDA benchmarks")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHMARKS], help="run these only")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if (args.only and b.name in args.only) or (not args.only and (args.gpu or not b.gpu))]
    results = []
    for benchmark in chosen:
        print(f"running {benchmark.name} ...", flush=True)
        output, status, seconds = run(benchmark, args.quick, args.timeout)
        results.append((benchmark, output, status, seconds))
        skipped = " (skipped: a comparison library is not installed)" if status == SKIPPED_EXIT else ""
        print(f"  exit {status}{skipped}, {seconds:.0f} s", flush=True)
    args.out.write_text(report(results, args.quick) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(status in (0, SKIPPED_EXIT) for _, _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
