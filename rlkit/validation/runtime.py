"""Where a run goes: the wandb mode, the device and the run directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rlkit.validation.checker import ABSENT, Checker, is_int

_CUDA = re.compile(r"cuda(?::(\d+))?")


def check_wandb(c: Checker) -> None:
    """``logger.wandb.mode=online`` needs credentials: say so before anything is written, not mid-run."""
    if c.value("logger.wandb.enabled", required=False) is False:
        return
    if c.value("logger.wandb.mode", required=False) != "online":
        return
    from rlkit.logging.wandb_logger import has_wandb_credentials

    if not has_wandb_credentials():
        c.add("logger.wandb.mode", "is 'online' but no wandb API key is configured (no WANDB_API_KEY, no netrc entry)",
              "run `wandb login` or set WANDB_API_KEY; or log offline (logger.wandb.mode=offline, the default; "
              "upload later with `wandb sync <run dir>/wandb/offline-run-*`), or logger.wandb.enabled=false")


def check_device(c: Checker) -> None:
    import torch

    compiled = c.value("compile", required=False)
    if compiled is not ABSENT and not isinstance(compiled, bool):
        c.add("compile", f"must be true or false, got {compiled!r}", "set compile=true or compile=false")
    sync_free = c.value("sync_free", required=False)
    if sync_free is not ABSENT and not isinstance(sync_free, bool) and sync_free != "auto":
        c.add("sync_free", f"must be auto, true or false, got {sync_free!r}",
              "set sync_free=auto (on for CUDA devices), sync_free=true or sync_free=false")

    device = c.value("device")
    if device is not ABSENT:
        match = _CUDA.fullmatch(device) if isinstance(device, str) else None
        if match:
            if not torch.cuda.is_available():
                c.add("device", f"device={device} asks for CUDA but torch.cuda.is_available() is false "
                      f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})",
                      "use device=auto (CUDA when present) or device=cpu; for a GPU install a CUDA build of torch "
                      "(README, GPU install)")
            elif match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
                count = torch.cuda.device_count()
                c.add("device", f"device={device} but {count} CUDA device(s) are visible",
                      f"use device=cuda:0 ... cuda:{count - 1} or device=cuda; check CUDA_VISIBLE_DEVICES")
        elif device not in ("auto", "cpu"):
            c.add("device", f"unknown device {device!r}", "use device=auto, cpu, cuda or cuda:N")
    threads = c.value("torch_threads")
    if threads is not ABSENT and threads != "auto" and not (is_int(threads) and threads >= 1):
        c.add("torch_threads", f"must be 'auto' or an integer >= 1, got {threads!r}",
              "set torch_threads=auto (the cores this process may use) or a thread count")
    seed = c.value("seed")
    if seed is not ABSENT and not (is_int(seed) and seed >= 0):
        c.add("seed", f"must be an integer >= 0, got {seed!r}", "set seed=0 (or any non-negative integer)")


def check_run_dir(c: Checker, run_dir: Path) -> None:
    """Writable without writing: the first existing ancestor must be a directory we may write into."""
    path = Path(os.path.abspath(run_dir))
    if path.exists() and not path.is_dir():
        c.add("hydra.run.dir", f"{path} exists and is not a directory", "choose another hydra.run.dir")
        return
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        c.add("hydra.run.dir", f"cannot create {path}: {ancestor} is a file, not a directory",
              "choose another hydra.run.dir (or hydra.sweep.dir for -m)")
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        what = "the run directory" if ancestor == path else f"{path}: its existing ancestor {ancestor}"
        c.add("hydra.run.dir", f"cannot write {what} (no write permission)",
              "choose a writable hydra.run.dir (or hydra.sweep.dir for -m), or fix the permissions")
