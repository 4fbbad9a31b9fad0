"""Learning curves from a run's ``metrics.jsonl`` (matplotlib, Agg canvas, no pyplot state)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.logging.jsonl import read_metrics

_log = logging.getLogger(__name__)

TRAIN_KEY = "charts/episodic_return"
EVAL_KEY = "eval/episodic_return"
EVAL_STD_KEY = "eval/episodic_return_std"


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values (fewer at the start). ``[N] -> [N]``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    values = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(values)])
    hi = np.arange(1, len(values) + 1)
    lo = np.maximum(hi - window, 0)
    return (csum[hi] - csum[lo]) / (hi - lo)


def _series(
    records: list[dict[str, Any]], key: str, extra: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(steps [N], values [N], extra [N] or None) of the records with a finite ``key``, by step."""
    rows = [
        r for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
    ]
    rows.sort(key=lambda r: r["step"])  # stable: a resumed run's repeated steps keep file order
    steps = np.array([r["step"] for r in rows], dtype=np.int64)
    values = np.array([r[key] for r in rows], dtype=np.float64)
    extras = None
    if extra is not None and any(extra in r for r in rows):
        extras = np.array([r.get(extra, math.nan) for r in rows], dtype=np.float64)
        extras = np.nan_to_num(extras, nan=0.0)
    return steps, values, extras


def plot_learning_curve(
    metrics_path: Path,
    out_path: Path,
    *,
    title: str | None = None,
    smoothing_window: int = 20,
) -> Path:
    """Plot training returns (points + rolling mean) and evaluation returns (± std) vs agent steps.

    Either series may be missing; with neither, the figure says so. Returns ``out_path`` (PNG).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    metrics_path, out_path = Path(metrics_path), Path(out_path)
    records = read_metrics(metrics_path)
    train_x, train_y, _ = _series(records, TRAIN_KEY)
    eval_x, eval_y, eval_std = _series(records, EVAL_KEY, EVAL_STD_KEY)

    fig = Figure(figsize=(8.0, 4.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if len(train_x):
        ax.scatter(train_x, train_y, s=6, alpha=0.25, color="tab:blue", linewidths=0)
        window = max(1, min(smoothing_window, len(train_y)))
        ax.plot(
            train_x,
            rolling_mean(train_y, window),
            color="tab:blue",
            label=f"train episodic return (mean of {window})",
        )
    if len(eval_x):
        ax.errorbar(
            eval_x,
            eval_y,
            yerr=eval_std,
            fmt="o-",
            color="tab:orange",
            markersize=4,
            capsize=3,
            label="eval episodic return" + (" ± std" if eval_std is not None else ""),
        )
    if not len(train_x) and not len(eval_x):
        _log.warning("%s has no episodic returns to plot", metrics_path)
        ax.text(0.5, 0.5, "no episodic returns logged", ha="center", va="center",
                transform=ax.transAxes)
    else:
        ax.legend(loc="best")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel("agent steps")
    ax.set_ylabel("episodic return")
    ax.set_title(title if title is not None else metrics_path.parent.name)
    ax.grid(True, alpha=0.3)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, format="png")
    return out_path
