"""Training speed with each torch thread setting, on an idle machine and beside a busy process.

Each measurement is a real ``rlkit-train`` subprocess (so the CLI's thread policy and OpenMP wait
policy apply) that trains a fixed number of agent steps; its speed is the median ``charts/SPS``
(training steps per second of training time) of the log intervals after learning starts. The busy
process is a pure-Python spin loop: one core's worth of load, like a second run in another terminal.

Settings (``--settings``):

* ``auto``: what a user gets by default (threads by learner work, then a governor that follows the
  machine's load: :mod:`rlkit.utils.threads`);
* ``1``, ``2``: fixed thread counts, OpenMP's default wait policy (idle threads spin a while). ``2``
  is what ``auto`` gave on 2 cores before the governor;
* ``2-passive``: two threads with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once), the
  other cure for contention, measured to show what it costs.

Cases (``--cases``): ``cartpole`` is the default run (Rainbow, MLP torso); ``atari`` is DQN with the
Nature CNN on Pong (an update every 4 agent steps). Conditions alternate over ``--rounds`` and medians
are reported, so drift in the machine's load shows as spread rather than bias. Prints, per case and
setting, idle and busy steps/s, busy/idle (how much a busy neighbour costs) and idle vs ``2`` idle
(what the setting costs on an idle machine against the old default).

    python benchmarks/threads_under_load.py --rounds 3
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

QUIET = ["logger.console.enabled=false", "logger.tensorboard.enabled=false", "logger.wandb.enabled=false"]
CASES: dict[str, list[str]] = {
    "cartpole": ["train.learning_starts_steps=1000", "replay.capacity=20000"],
    "atari": ["env=atari", "env.game=pong", "agent=dqn", "replay.capacity=20000", "train.learning_starts_steps=1000",
              "eval.episodes=1", "eval.max_steps=200"],
}
DEFAULT_STEPS = {"cartpole": 4_000, "atari": 3_000}
SPIN = "while True: pass"


def thread_overrides(setting: str) -> tuple[list[str], dict[str, str]]:
    """(overrides, environment changes) for a ``--settings`` entry."""
    if setting == "2-passive":
        return ["torch_threads=2"], {"OMP_WAIT_POLICY": "PASSIVE"}
    return [f"torch_threads={setting}"], {}


def measure(case: str, setting: str, steps: int, work: Path) -> float:
    """Median training SPS after learning starts, of one ``rlkit-train`` run."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{case}-{setting}-", dir=work))
    overrides, env_changes = thread_overrides(setting)
    args = [*CASES[case], f"train.steps={steps}", "train.log_every_steps=250", "eval.every_steps=0",
            "train.stop_at_eval_return=null", "eval.final_episodes=1", "checkpoint.every=0",
            f"hydra.run.dir={run_dir}", *QUIET, *overrides]
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update({"WANDB_MODE": "disabled", "MPLBACKEND": "Agg", **env_changes})
    exe = Path(sys.executable).parent / "rlkit-train"
    proc = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{case} {setting} failed:\n{proc.stderr[-3000:]}")
    starts = int(next(a.split("=")[1] for a in CASES[case] if a.startswith("train.learning_starts_steps=")))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    sps = [r["charts/SPS"] for r in records if "charts/SPS" in r and r["step"] > starts + 250]
    if not sps:
        raise RuntimeError(f"{case} {setting}: no SPS records after learning starts")
    return statistics.median(sps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["cartpole", "atari"])
    parser.add_argument("--settings", nargs="+", default=["auto", "1", "2", "2-passive"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="agent steps per run (default: per case)")
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# threads under load: {cores} cores, rounds={args.rounds}, settings={args.settings}")
    results: dict[tuple[str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="rlkit-threads-") as tmp:
        work = Path(tmp)
        for round_index in range(args.rounds):
            for case in args.cases:
                steps = args.steps or DEFAULT_STEPS[case]
                for load in ("idle", "busy"):
                    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if load == "busy" else None
                    try:
                        time.sleep(0.5 if spinner else 0.0)
                        order = args.settings if round_index % 2 == 0 else list(reversed(args.settings))
                        for setting in order:
                            sps = measure(case, setting, steps, work)
                            results.setdefault((case, setting, load), []).append(sps)
                            print(f"round {round_index + 1} {case:8s} {load:4s} {setting:6s} {sps:8.1f} steps/s",
                                  flush=True)
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()

    print("\n| case | setting | idle steps/s | busy steps/s | busy / idle | idle vs 2 idle |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for case in args.cases:
        ref = statistics.median(results.get((case, "2", "idle"), [float("nan")]))
        for setting in args.settings:
            idle = statistics.median(results[(case, setting, "idle")])
            busy = statistics.median(results[(case, setting, "busy")])
            print(f"| {case} | {setting} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} | {idle / ref:.2f} |")


if __name__ == "__main__":
    main()
