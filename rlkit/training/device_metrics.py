"""Learner metrics kept on the device between logs (sync-free updates): one read per log, not per update."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass
class MetricRows:
    """What :meth:`DeviceMetrics.drain` read: each update's metric values, with its update and agent step."""

    names: tuple[str, ...]
    values: list[list[float]]  # [updates][K], in the order of ``names``
    updates: list[int]  # [updates] update numbers (1-based, ``agent.updates`` after each)
    steps: list[int]  # [updates] agent step at each update


class DeviceMetrics:
    """Each update's metrics written as one row of a device buffer, read back in one transfer.

    The rows hold the same float32 values the default path reads per update, so the means at a log
    are the same; which update and agent step a row belongs to is known on the host and kept there.
    The buffer doubles when full (on the device, no sync); a drain empties it.
    """

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()
        self._rows: torch.Tensor | None = None  # [capacity, K]
        self._updates: list[int] = []
        self._steps: list[int] = []

    def add(self, metrics: Mapping[str, torch.Tensor], *, update: int, step: int) -> None:
        """Append one update's 0-d metric tensors (all on one device); launches kernels, reads nothing."""
        names = tuple(metrics)
        if self._updates and names != self._names:
            raise ValueError(f"an update reported metrics {names}, the ones before {self._names}")
        row = torch.stack(list(metrics.values()))  # [K]
        count = len(self._updates)
        if self._rows is None or self._rows.shape[1] != row.numel():
            self._rows = row.new_empty((64, row.numel()))
        elif count == self._rows.shape[0]:
            self._rows = torch.cat([self._rows, torch.empty_like(self._rows)])
        self._rows[count].copy_(row)
        self._names = names
        self._updates.append(update)
        self._steps.append(step)

    def drain(self) -> MetricRows:
        """The rows added since the last drain (one device sync, none when empty); empties the buffer."""
        count = len(self._updates)
        values = self._rows[:count].tolist() if count and self._rows is not None else []
        rows = MetricRows(self._names, values, self._updates, self._steps)
        self._updates, self._steps = [], []
        return rows
