"""The knobs of a report (the ``rlkit-report`` flags), checked, and how the baseline variant is chosen."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rlkit.analysis import stats
from rlkit.analysis.runs import RunsError, ScoreMetric

ALL_TASKS = "*"  # key of ReportOptions.return_ranges that applies to every task


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of :func:`rlkit.analysis.report.write_report` (the ``rlkit-report`` flags)."""

    baseline: str | None = None  # default: "full" if present, else the first variant alphabetically
    reps: int = stats.DEFAULT_REPS
    seed: int = 0
    gap_threshold: float | None = None  # raw-return suites; default: gymnasium reward_threshold
    metric: ScoreMetric = "final"
    confidence: float = stats.DEFAULT_CONFIDENCE
    return_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # task or ALL_TASKS -> (lo, hi)
    references: Sequence[str] = ()  # published results to compare with (rlkit.analysis.reference, .curve_reference)

    def check(self) -> None:
        """Raise :class:`RunsError` naming the flag when a value is out of range."""
        if int(self.reps) != self.reps or self.reps < 1:
            raise RunsError(f"--reps must be a positive integer, got {self.reps!r}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise RunsError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if self.metric not in ("final", "best"):
            raise RunsError(f"--metric must be 'final' or 'best', got {self.metric!r}")
        if self.gap_threshold is not None and not math.isfinite(self.gap_threshold):
            raise RunsError(f"--gap-threshold must be a finite number, got {self.gap_threshold!r}")
        for task, (lo, hi) in self.return_ranges.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise RunsError(f"--return-range {task}={lo},{hi}: needs finite LO < HI")
        if self.references:
            from rlkit.analysis.reference_data import parse_references

            parse_references(self.references)  # ReferenceError (a RunsError) lists the valid names


def parse_return_range(text: str) -> tuple[str, tuple[float, float]]:
    """``"[TASK=]LO,HI"`` -> ``(task or ALL_TASKS, (lo, hi))``; :class:`RunsError` says what is wrong."""
    task, _, bounds = text.rpartition("=")
    try:
        lo, hi = (float(v) for v in bounds.split(","))
    except ValueError:
        raise RunsError(f"--return-range {text!r}: expected [TASK=]LO,HI, e.g. 0,500 or CartPole-v1=0,500") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise RunsError(f"--return-range {text!r}: needs finite LO < HI")
    return task or ALL_TASKS, (lo, hi)


def choose_baseline(variants: Sequence[str], requested: str | None) -> tuple[str, str]:
    """``(baseline, why)``; an unknown ``requested`` name raises :class:`RunsError` listing the variants."""
    if requested is not None:
        if requested not in variants:
            raise RunsError(f"unknown --baseline {requested!r}; valid variants: {', '.join(sorted(variants))}")
        return requested, "chosen with --baseline"
    if "full" in variants:
        return "full", "the variant named `full` (default)"
    first = min(variants)
    return first, "no variant named `full`: the first variant alphabetically (default; set with --baseline)"
