"""Aggregate metrics and stratified-bootstrap confidence intervals (numpy only).

Following Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice" (NeurIPS):
scores come as a matrix ``[runs, tasks]`` per variant (one column per game or env; every column
holds the same number of runs). Every metric also accepts a batch ``[..., runs, tasks]`` and
returns ``[...]``, which is how the bootstrap evaluates thousands of resamples in one call.

* ``mean``: mean over tasks of the per-task mean score.
* ``median``: median over tasks of the per-task mean score.
* ``iqm``: interquartile mean, the 25% trimmed mean of all ``runs x tasks`` scores: drop the
  ``floor(n / 4)`` lowest and highest of the ``n`` scores, average the rest.
* ``optimality_gap``: mean of ``max(gamma - x, 0)`` over all scores (``gamma = 1`` for human-normalised scores).
* probability of improvement ``P(X > Y)``: per task the Mann-Whitney U statistic of ``X`` over ``Y``
  divided by ``n_x * n_y`` (a tie counts 1/2), averaged over tasks.
* performance profile: the fraction of all ``runs x tasks`` scores above each threshold ``tau``.

Confidence intervals are percentile intervals of the stratified bootstrap: each resample draws,
independently for every task, that task's runs with replacement (so each task keeps its run count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_REPS = 2000
DEFAULT_CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 1 << 16  # resampled score elements per bootstrap chunk (bounds peak memory)

Statistic = Callable[..., np.ndarray]


def check_scores(scores: np.ndarray | Sequence[Sequence[float]], name: str = "scores") -> np.ndarray:
    """``scores`` as a float64 ``[runs, tasks]`` matrix with at least one run and task, all finite."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [runs, tasks] matrix, got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} needs at least one run and one task, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values; drop or fix those runs first")
    return array


# ----------------------------------------------------------------------------- point metrics
def mean_score(scores: np.ndarray) -> np.ndarray:
    """Mean over tasks of the per-task mean. ``[..., runs, tasks] -> [...]``."""
    return np.asarray(scores, dtype=np.float64).mean(axis=-2).mean(axis=-1)


def median_score(scores: np.ndarray) -> np.ndarray:
    """Median over tasks of the per-task mean. ``[..., runs, tasks] -> [...]``."""
    return np.median(np.asarray(scores, dtype=np.float64).mean(axis=-2), axis=-1)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean: 25% trimmed mean of all runs x tasks scores. ``[..., runs, tasks] -> [...]``."""
    scores = np.asarray(scores, dtype=np.float64)
    flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return flat[..., cut : n - cut].mean(axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Mean shortfall below ``gamma``, ``mean(max(gamma - x, 0))``. ``[..., runs, tasks] -> [...]``."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.maximum(gamma - scores, 0.0).mean(axis=(-2, -1))


def per_task_probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X_m > Y_m)`` per task: Mann-Whitney U / (n_x n_y), ties 1/2. ``[..., n_x, T], [..., n_y, T] -> [..., T]``."""
    x = np.asarray(x, dtype=np.float64)[..., :, None, :]  # [..., n_x, 1, T]
    y = np.asarray(y, dtype=np.float64)[..., None, :, :]  # [..., 1, n_y, T]
    wins = (x > y).astype(np.float64) + 0.5 * (x == y)  # [..., n_x, n_y, T]
    return wins.mean(axis=(-3, -2))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y)``: per-task probability of improvement averaged over tasks. ``-> [...]``."""
    return per_task_probability_of_improvement(x, y).mean(axis=-1)


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of all runs x tasks scores ``> tau`` for each tau. ``[..., runs, tasks], [K] -> [..., K]``."""
    scores = np.asarray(scores, dtype=np.float64)
    taus = np.asarray(taus, dtype=np.float64)
    return (scores[..., None] > taus).mean(axis=(-3, -2))


AGGREGATES: dict[str, str] = {
    "median": "Median",
    "iqm": "IQM",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}


def aggregate_statistic(gamma: float | None) -> tuple[list[str], Statistic]:
    """Names and a batched statistic returning ``[..., k]``: median, IQM, mean (and optimality gap if ``gamma``)."""
    names = ["median", "iqm", "mean"] + ([] if gamma is None else ["optimality_gap"])

    def statistic(scores: np.ndarray) -> np.ndarray:
        values = [median_score(scores), iqm(scores), mean_score(scores)]
        if gamma is not None:
            values.append(optimality_gap(scores, gamma))
        return np.stack(values, axis=-1)

    return names, statistic


# ----------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (arrays for vector statistics)."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def item(self, index: int | tuple[int, ...] = ()) -> dict[str, float]:
        """``{"point", "lower", "upper"}`` as floats, for one entry of a vector statistic."""
        return {key: float(np.asarray(getattr(self, key))[index]) for key in ("point", "lower", "upper")}


def stratified_resample(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified resamples of ``[runs, tasks]``: runs drawn with replacement per task. ``-> [reps, runs, tasks]``."""
    scores = check_scores(scores)
    runs, tasks = scores.shape
    rows = rng.integers(0, runs, size=(reps, runs, tasks))  # [reps, runs, tasks]
    return scores[rows, np.arange(tasks)]


def bootstrap_interval(
    statistic: Statistic,
    arrays: Sequence[np.ndarray],
    *,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Stratified-bootstrap percentile interval of ``statistic(*arrays)``.

    ``statistic`` takes one batched ``[B, runs_i, tasks]`` array per input and returns ``[B, ...]``;
    each input is resampled independently (stratified by task), as for probability of improvement.
    """
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    arrays = [check_scores(a, f"scores[{i}]") for i, a in enumerate(arrays)]
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one score matrix")
    if len({a.shape[1] for a in arrays}) != 1:
        raise ValueError(f"score matrices disagree on the number of tasks: {[a.shape for a in arrays]}")
    point = np.asarray(statistic(*(a[None] for a in arrays))[0], dtype=np.float64)
    chunk = max(1, _CHUNK_ELEMENTS // max(a.size for a in arrays))
    parts = []
    for start in range(0, int(reps), chunk):
        size = min(chunk, int(reps) - start)
        parts.append(np.asarray(statistic(*(stratified_resample(a, size, rng) for a in arrays)), dtype=np.float64))
    draws = np.concatenate(parts, axis=0)  # [reps, ...]
    alpha = 1.0 - confidence
    lower, upper = np.percentile(draws, [100.0 * alpha / 2, 100.0 * (1 - alpha / 2)], axis=0)
    return Interval(point=point, lower=lower, upper=upper)


def aggregate_intervals(
    scores: np.ndarray,
    *,
    gamma: float | None = 1.0,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, dict[str, float]]:
    """Median, IQM, mean and optimality gap (at ``gamma``; left out when None) with CIs from one set of resamples."""
    names, statistic = aggregate_statistic(gamma)
    interval = bootstrap_interval(statistic, [scores], reps=reps, rng=rng, confidence=confidence)
    return {name: interval.item(i) for i, name in enumerate(names)}


def probability_of_improvement_interval(
    x: np.ndarray,
    y: np.ndarray,
    *,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """``P(X > Y)`` with a CI from resampling ``x`` and ``y`` independently, each stratified by task."""
    return bootstrap_interval(probability_of_improvement, [x, y], reps=reps, rng=rng, confidence=confidence)


def performance_profile_interval(
    scores: np.ndarray,
    taus: np.ndarray,
    *,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Performance profile over ``taus`` (``[K]``) with pointwise bootstrap bands."""
    taus = np.asarray(taus, dtype=np.float64)
    return bootstrap_interval(
        lambda s: performance_profile(s, taus), [scores], reps=reps, rng=rng, confidence=confidence
    )


def mean_curve_interval(
    curves: np.ndarray,
    *,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Mean over runs of ``[runs, steps]`` learning curves with pointwise bootstrap CIs (runs resampled per step)."""
    return bootstrap_interval(lambda c: c.mean(axis=-2), [curves], reps=reps, rng=rng, confidence=confidence)
