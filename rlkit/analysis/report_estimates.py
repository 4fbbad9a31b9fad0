"""The numbers of a report: per-task score tables, suite aggregates with stratified-bootstrap CIs, probability
of improvement, performance profiles and learning curves.

Scores are grouped into *suites* that can be aggregated together: one suite of all Atari-57 games
on human-normalised scores (optimality gap at 1, human level), and one suite per other task
(gymnasium env, or an Atari game without reference scores) on raw returns, with the optimality
gap at ``--gap-threshold`` or the env's gymnasium ``reward_threshold`` (left out when neither exists).
Within a suite, aggregates use the tasks every variant of the suite has, and per variant the same
number of runs on each task (the lowest seeds, when a task has more). Every bootstrap draws from
its own generator seeded by ``(seed, what it estimates)``, so the report is deterministic and adding
a variant does not change another variant's intervals. Groups of fewer than ``report.MIN_RUNS`` runs
are flagged: their bootstrap intervals are unreliable. Learning curves and their bands are clipped to the
task's possible return range (:meth:`Run.return_range`, or ``--return-range``) where it is known.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rlkit.analysis import stats
from rlkit.analysis.report_options import ALL_TASKS, ReportOptions
from rlkit.analysis.runs import Run, RunsError, ScoreMetric

_log = logging.getLogger(__name__)

HNS_SUITE = "atari_hns"
PROFILE_POINTS = 101


def bootstrap_rng(seed: int, *key: str) -> np.random.Generator:
    """A generator for one estimate, from the report seed and a stable hash of what it estimates."""
    return np.random.default_rng([seed, zlib.crc32("|".join(key).encode())])


def _gap_threshold(env_id: str, override: float | None) -> tuple[float | None, str]:
    if override is not None:
        return float(override), "--gap-threshold"
    import gymnasium

    try:
        threshold = gymnasium.spec(env_id).reward_threshold
    except gymnasium.error.Error:  # not a registered gymnasium id (e.g. an Atari game without reference scores)
        threshold = None
    if threshold is None:
        return None, f"none: {env_id} has no gymnasium reward_threshold (set --gap-threshold)"
    return float(threshold), f"gymnasium reward_threshold of {env_id}"


def return_ranges(runs: Sequence[Run], explicit: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, Any]]:
    """Per task: ``{"range": [lo, hi] or None, "source"}``; ``explicit`` (task or ALL_TASKS) wins, else the
    union of its runs' :meth:`Run.return_range` (unknown if any run's is)."""
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_task[run.task].append(run)
    unknown = sorted(set(explicit) - set(by_task) - {ALL_TASKS})
    if unknown:
        raise RunsError(f"--return-range for unknown task(s) {', '.join(unknown)}; tasks: {', '.join(sorted(by_task))}")
    out = {}
    for task, members in sorted(by_task.items()):
        chosen = explicit.get(task, explicit.get(ALL_TASKS))
        if chosen is not None:
            out[task] = {"range": [float(chosen[0]), float(chosen[1])], "source": "--return-range"}
            continue
        found = [r.return_range() for r in members]
        missing = [why for bounds, why in found if bounds is None]
        if missing:
            out[task] = {"range": None, "source": missing[0]}
        else:
            out[task] = {"range": [min(b[0] for b, _ in found), max(b[1] for b, _ in found)],
                         "source": "; ".join(sorted({why for _, why in found}))}
    return out


def _std(values: Sequence[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


# ----------------------------------------------------------------------------- numbers
def score_table(runs: Sequence[Run], metric: ScoreMetric) -> list[dict[str, Any]]:
    """Per task and variant: seeds, mean and sample std (ddof=1) of the score and of the HNS (Atari-57)."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.task, run.variant)].append(run)
    rows = []
    for (task, variant), members in sorted(groups.items()):
        members = sorted(members, key=lambda r: r.seed)
        scores = [r.score(metric) for r in members]
        hns = [r.hns(metric) for r in members] if members[0].game is not None else None
        rows.append({
            "task": task, "variant": variant, "env_id": members[0].env_id, "n_seeds": len(members),
            "seeds": [r.seed for r in members], "score_mean": float(np.mean(scores)), "score_std": _std(scores),
            "hns_mean": None if hns is None else float(np.mean(hns)), "hns_std": None if hns is None else _std(hns),
        })
    return rows


def score_suites(runs: Sequence[Run], gap_override: float | None) -> dict[str, dict[str, Any]]:
    suites: dict[str, dict[str, Any]] = {}
    for run in runs:
        name = HNS_SUITE if run.game is not None else run.task
        if name not in suites:
            if run.game is not None:
                gamma, why = 1.0, "human level"
            else:
                gamma, why = _gap_threshold(run.env_id, gap_override)
            suites[name] = {"kind": "hns" if run.game is not None else "raw", "gamma": gamma, "gamma_source": why,
                            "runs": []}
        suites[name]["runs"].append(run)
    return suites


def score_matrices(
    suite_runs: Sequence[Run], metric: ScoreMetric, kind: str
) -> tuple[list[str], list[str], dict[str, np.ndarray], list[str]]:
    """(tasks, excluded tasks, variant -> [runs, tasks] scores, notes) for one suite."""
    by_variant: dict[str, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in suite_runs:
        by_variant[run.variant][run.task].append(run)
    all_tasks = sorted({r.task for r in suite_runs})
    tasks = [t for t in all_tasks if all(t in per_task for per_task in by_variant.values())]
    excluded = [t for t in all_tasks if t not in tasks]
    notes = []
    if excluded:
        notes.append(f"tasks left out of the aggregates (not run by every variant): {', '.join(excluded)}")
    matrices = {}
    for variant, per_task in sorted(by_variant.items()):
        if not tasks:
            continue
        counts = {t: len(per_task[t]) for t in tasks}
        n = min(counts.values())
        if len(set(counts.values())) > 1:
            notes.append(f"{variant}: seeds per task differ ({counts}); aggregates use the {n} lowest seeds per task")
            _log.warning("variant %s: seeds per task differ (%s); using the %d lowest seeds per task",
                         variant, counts, n)
        columns = []
        for task in tasks:
            members = sorted(per_task[task], key=lambda r: r.seed)[:n]
            columns.append([r.hns(metric) if kind == "hns" else r.score(metric) for r in members])
        matrices[variant] = np.array(columns, dtype=np.float64).T  # [runs, tasks]
    return tasks, excluded, matrices, notes


def suite_estimates(
    name: str, suite: dict[str, Any], baseline: str, options: ReportOptions
) -> dict[str, Any]:
    """Aggregates with CIs, probability of improvement over ``baseline`` and performance profiles of one suite."""
    tasks, excluded, matrices, notes = score_matrices(suite["runs"], options.metric, suite["kind"])
    gamma = suite["gamma"]
    out: dict[str, Any] = {
        "kind": suite["kind"], "tasks": tasks, "excluded_tasks": excluded, "gap_threshold": gamma,
        "gap_threshold_source": suite["gamma_source"], "notes": notes,
        "runs_per_task": {v: int(m.shape[0]) for v, m in matrices.items()},
        "aggregates": {}, "probability_of_improvement": {}, "performance_profile": {},
    }
    common = {"reps": options.reps, "confidence": options.confidence}
    for variant, matrix in matrices.items():
        out["aggregates"][variant] = stats.aggregate_intervals(
            matrix, gamma=gamma, rng=bootstrap_rng(options.seed, "aggregates", name, variant), **common
        )
    if baseline in matrices:
        for variant, matrix in matrices.items():
            if variant == baseline:
                continue
            interval = stats.probability_of_improvement_interval(
                matrix, matrices[baseline], rng=bootstrap_rng(options.seed, "poi", name, variant, baseline), **common
            )
            per_task = stats.per_task_probability_of_improvement(matrix, matrices[baseline])
            out["probability_of_improvement"][variant] = {
                **interval.item(), "per_task": {t: float(p) for t, p in zip(tasks, per_task)}
            }
    elif matrices:
        notes.append(f"baseline {baseline!r} has no runs here: no probability of improvement")
    if matrices:
        values = np.concatenate([m.ravel() for m in matrices.values()])
        lo, hi = float(values.min()), float(values.max())
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        taus = np.linspace(lo - pad, hi + pad, PROFILE_POINTS)
        out["performance_profile"] = {"taus": taus.tolist(), "variants": {}}
        for variant, matrix in matrices.items():
            band = stats.performance_profile_interval(
                matrix, taus, rng=bootstrap_rng(options.seed, "profile", name, variant), **common
            )
            out["performance_profile"]["variants"][variant] = {
                "profile": band.point.tolist(), "lower": band.lower.tolist(), "upper": band.upper.tolist()
            }
    return out


def learning_curves(
    runs: Sequence[Run], options: ReportOptions, ranges: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per task and variant: mean eval return over seeds on the eval steps all its runs share, with CI bands,
    clipped to the task's known return range (``ranges[task]["range"]``, from :func:`return_ranges`)."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.task, run.variant)].append(run)
    curves: dict[str, dict[str, Any]] = defaultdict(dict)
    for (task, variant), members in sorted(groups.items()):
        series = [dict(zip(*r.eval_curve())) for r in sorted(members, key=lambda r: r.seed)]
        series = [s for s in series if s]
        steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
        if not steps:
            _log.warning("%s / %s: no evaluation steps shared by its runs: no learning curve", task, variant)
            continue
        matrix = np.array([[s[step] for step in steps] for s in series], dtype=np.float64)  # [runs, steps]
        band = stats.mean_curve_interval(matrix, reps=options.reps, confidence=options.confidence,
                                         rng=bootstrap_rng(options.seed, "curve", task, variant))
        bounds = (ranges or {}).get(task, {}).get("range") or (-np.inf, np.inf)
        curves[task][variant] = {"steps": steps, "runs": len(series),
                                 **{k: np.clip(getattr(band, a), *bounds).tolist()
                                    for k, a in (("mean", "point"), ("lower", "lower"), ("upper", "upper"))}}
    return dict(curves)
