"""Device choice and seeding (CPU threads: :mod:`rlkit.utils.threads`, re-exported here)."""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

from rlkit.utils.threads import PARALLEL_JOBS_ENV, available_cores, configure_threads, torch_thread_budget

__all__ = ["PARALLEL_JOBS_ENV", "available_cores", "configure_threads", "resolve_device", "rng_state",
           "seed_everything", "set_rng_state", "torch_thread_budget"]

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without CUDA is an error, not a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device} was asked for but CUDA is not available; use device=auto or device=cpu")
    return dev


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
