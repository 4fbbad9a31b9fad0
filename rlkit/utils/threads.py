"""How many CPU threads torch uses, and how that follows the load of the machine.

``torch_threads=auto`` (the default) is built from three measured facts (``benchmarks/threads_under_load.py``,
README "Threads and devices"):

1. A second thread buys nothing for small networks: CartPole's MLP learner (7 MFLOP per batch
   forward) updates 1.04x faster with 2 threads, DER's CNN (107 MFLOP) 1.41x, the Nature CNN
   (600 MFLOP) 1.66x. So ``auto`` gives one thread per :data:`FLOPS_PER_THREAD` of learner work,
   at least 1, at most the cores this run may use (:func:`thread_budget`).
2. OpenMP's idle threads spin, and a spinning thread that shares its core with another busy
   process turns contention into collapse: the Nature-CNN loop at 2 threads fell from 195 to 66
   agent steps/s beside one busy process, while 1 thread kept 134. A passive wait policy avoids
   the collapse but costs 10% on the CNN and 2.7x on the MLP when the machine is idle.
3. So ``auto`` keeps OpenMP's default and lets :class:`ThreadGovernor` drop threads while other
   processes keep cores busy (and take them back when they are free), read from ``/proc/stat``.

A fixed ``torch_threads=N`` is used as given, and never changed: use it for bit-exact runs, since
the thread count can change the order of floating-point sums in convolutions.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PARALLEL_JOBS_ENV = "RLKIT_PARALLEL_JOBS"
FLOPS_PER_THREAD = 30e6  # learner work (FLOPs of one batch forward) that keeps one more thread busy
PROC_STAT = Path("/proc/stat")


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


def thread_budget(*, parallel_jobs: int | None = None) -> int:
    """The cores one run may use: :func:`available_cores` shared among the runs that start side by
    side on this machine (``RLKIT_PARALLEL_JOBS``, set by the local parallel launcher presets)."""
    cores = available_cores()
    if parallel_jobs is None:
        raw = os.environ.get(PARALLEL_JOBS_ENV, "1").strip()
        parallel_jobs = int(raw) if re.fullmatch(r"-?\d+", raw) else 1
    if parallel_jobs < 0:  # joblib's convention: -1 = one job per core, -2 = all but one, ...
        parallel_jobs = max(1, cores + 1 + parallel_jobs)
    return max(1, cores // max(1, parallel_jobs))


def torch_thread_budget(setting: int | str, *, parallel_jobs: int | None = None,
                        work_flops: float | None = None) -> int:
    """Intra-op threads for a ``torch_threads`` setting.

    ``auto``: :func:`thread_budget`, capped at one thread per :data:`FLOPS_PER_THREAD` of
    ``work_flops`` (FLOPs of the learner's batch forward pass) when it is known."""
    if setting != "auto":
        threads = int(setting)
        if threads < 1:
            raise ValueError(f"torch_threads must be 'auto' or >= 1, got {setting}")
        return threads
    budget = thread_budget(parallel_jobs=parallel_jobs)
    if work_flops is not None:
        budget = min(budget, max(1, int(work_flops // FLOPS_PER_THREAD)))
    return budget


def configure_threads(setting: int | str, *, work_flops: float | None = None) -> int:
    """Set torch's intra-op threads for ``setting`` (see :func:`torch_thread_budget`); returns the count."""
    import torch

    threads = torch_thread_budget(setting, work_flops=work_flops)
    torch.set_num_threads(threads)
    work = f", learner forward {work_flops / 1e6:.0f} MFLOP" if work_flops is not None else ""
    log.info("torch intra-op threads: %d (torch_threads=%s, available cores: %d%s)", threads, setting,
             available_cores(), work)
    return threads


def forward_flops(network: object, obs_shape: Sequence[int], batch_size: int) -> float | None:
    """FLOPs of one forward pass of ``network`` on a zero batch of ``batch_size`` observations (None if
    they cannot be counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        param = next(network.parameters())  # type: ignore[attr-defined]
        obs = torch.zeros((batch_size, *obs_shape), device=param.device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network(obs)  # type: ignore[operator]
    except Exception as err:  # noqa: BLE001 - a user's network may not accept a zero batch; fall back
        log.debug("could not count the network's FLOPs (%s): thread count not capped by work", err)
        return None
    return float(counter.get_total_flops())


def _busy_jiffies(cpus: set[int], stat: Path = PROC_STAT) -> int | None:
    """Busy clock ticks (all but idle and iowait) summed over ``cpus``, from ``/proc/stat``."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    busy = 0
    for line in text.splitlines():
        match = re.match(r"cpu(\d+)\s+(.*)", line)
        if match and int(match.group(1)) in cpus:
            fields = [int(x) for x in match.group(2).split()]
            busy += sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy


class ThreadGovernor:
    """Follows the cores other processes leave free: fewer torch threads while they are busy.

    Every ``interval_s`` (checked by :meth:`poll`, cheap enough to call every step) it compares the
    busy time of this process's cores (``/proc/stat``) with this process's own CPU time: the rest
    is other processes' load. The thread count becomes the free cores, rounded down (after a margin
    of ``margin_cores``), between 1 and ``max_threads``. Linux only; elsewhere it does nothing.
    """

    def __init__(
        self,
        max_threads: int,
        *,
        interval_s: float = 2.0,
        margin_cores: float = 0.3,
        set_threads: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        process_time: Callable[[], float] = time.process_time,
        busy_jiffies: Callable[[], int | None] | None = None,
    ) -> None:
        if set_threads is None:
            import torch

            set_threads = torch.set_num_threads
        try:
            self.cpus = set(os.sched_getaffinity(0))
        except AttributeError:
            self.cpus = set(range(os.cpu_count() or 1))
        self.cores = min(len(self.cpus), available_cores())
        self.max_threads = max(1, int(max_threads))
        self.threads = self.max_threads
        self.interval_s = interval_s
        self.margin_cores = margin_cores
        self.set_threads = set_threads  # applies a new count (the training loop's learner thread points it at itself)
        self._clock, self._process_time = clock, process_time
        self._busy = busy_jiffies or (lambda: _busy_jiffies(self.cpus))
        self._ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.other_load: float | None = None  # cores kept busy by other processes, at the last poll
        self._mark = self._sample()

    @property
    def active(self) -> bool:
        return self.max_threads > 1 and self._mark is not None

    def _sample(self) -> tuple[float, float, int] | None:
        busy = self._busy()
        return None if busy is None else (self._clock(), self._process_time(), busy)

    def poll(self) -> int | None:
        """Re-check the load when ``interval_s`` has passed; returns the new thread count if it changed."""
        if not self.active:
            return None
        assert self._mark is not None
        if self._clock() - self._mark[0] < self.interval_s:
            return None
        sample = self._sample()
        if sample is None:
            return None
        (t0, own0, busy0), (t1, own1, busy1) = self._mark, sample
        self._mark = sample
        wall = t1 - t0
        if wall <= 0:
            return None
        self.other_load = max(0.0, ((busy1 - busy0) / self._ticks_per_s - (own1 - own0)) / wall)
        free = self.cores - self.other_load
        target = min(self.max_threads, max(1, int(free + self.margin_cores)))
        if target == self.threads:
            return None
        log.info("torch threads %d -> %d: other processes keep %.1f of %d cores busy",
                 self.threads, target, self.other_load, self.cores)
        self.threads = target
        self.set_threads(target)
        return target
