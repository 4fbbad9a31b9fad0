"""Device choice, CPU thread budget and seeding."""

from __future__ import annotations

import logging
import os
import random
import re
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

PARALLEL_JOBS_ENV = "RLKIT_PARALLEL_JOBS"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without CUDA is an error, not a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device} was asked for but CUDA is not available; use device=auto or device=cpu")
    return dev


def available_cores() -> int:
    """Cores this process may use: CPU affinity, capped by SLURM's ``SLURM_CPUS_PER_TASK``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        cores = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


def torch_thread_budget(setting: int | str, *, parallel_jobs: int | None = None) -> int:
    """Intra-op threads for this run.

    ``auto`` shares the available cores between the jobs that run side by side on this machine
    (``RLKIT_PARALLEL_JOBS``, set by the local parallel launcher presets): two 2-thread jobs on two
    cores fight for them and run many times slower than two 1-thread jobs.
    """
    if setting != "auto":
        threads = int(setting)
        if threads < 1:
            raise ValueError(f"torch_threads must be 'auto' or >= 1, got {setting}")
        return threads
    cores = available_cores()
    if parallel_jobs is None:
        raw = os.environ.get(PARALLEL_JOBS_ENV, "1").strip()
        parallel_jobs = int(raw) if re.fullmatch(r"-?\d+", raw) else 1
    if parallel_jobs < 0:  # joblib's convention: -1 = one job per core, -2 = all but one, ...
        parallel_jobs = max(1, cores + 1 + parallel_jobs)
    return max(1, cores // max(1, parallel_jobs))


def configure_threads(setting: int | str) -> int:
    threads = torch_thread_budget(setting)
    torch.set_num_threads(threads)
    log.info("torch intra-op threads: %d (available cores: %d)", threads, available_cores())
    return threads


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Global RNG states (Python, NumPy, torch CPU and CUDA) for checkpoints."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
