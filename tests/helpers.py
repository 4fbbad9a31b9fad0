"""Shared test helpers: compose a config, train in-process, run the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

QUIET = ["logger.console.enabled=false", "logger.tensorboard.enabled=false", "logger.wandb.enabled=false"]


def compose(*overrides: str) -> DictConfig:
    from rlkit.config import compose_config

    return compose_config(list(overrides))


def train_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    import rlkit.components  # noqa: F401
    from rlkit.training.loop import train

    cfg = compose(*QUIET, "torch_threads=1", *overrides)
    return train(cfg, run_dir)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"WANDB_MODE": "disabled", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl"),
                "WANDB_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"})
    return env


def run_cli(script: str, args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a console script installed next to this interpreter."""
    exe = Path(sys.executable).parent / script
    return subprocess.run([str(exe), *args], cwd=cwd, env=env or cli_env(cwd), capture_output=True, text=True, check=False,
                          timeout=timeout)


def study_copy(tmp_path: Path, benchmark: str, script: str) -> tuple[Path, dict[str, str]]:
    """A copy of ``experiments/<benchmark>/<script>`` (and study.sh) under ``tmp_path``, and an environment that runs
    it with a stand-in rlkit-train (each run's stdout.log gets the command line) and a stand-in pinned checkout."""
    repo = Path(__file__).resolve().parents[1]
    study = tmp_path / "experiments" / benchmark
    study.mkdir(parents=True)
    shutil.copy(repo / "experiments" / benchmark / script, study)
    shutil.copy(repo / "experiments" / "study.sh", study.parent)
    code = tmp_path / "pinned"
    (code / "rlkit" / "conf").mkdir(parents=True)  # pin_code takes it as the study's checkout (no git worktree)
    train = tmp_path / "train"
    train.write_text('#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH" "$@"\n')
    train.chmod(0o755)
    return study, {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
                   "TMPDIR": str(tmp_path), "RLKIT_TRAIN": str(train), "RLKIT_STUDY_CODE": str(code)}
