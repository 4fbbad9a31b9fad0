"""Study report over finished runs: per-task tables, aggregate metrics with stratified-bootstrap CIs
(Agarwal et al. 2021), probability of improvement over a baseline, plots, ``report.md`` and CSV/JSON.

Scores are grouped into *suites* that can be aggregated together: one suite of all Atari-57 games
on human-normalised scores (optimality gap at 1, human level), and one suite per other task
(gymnasium env, or an Atari game without reference scores) on raw returns, with the optimality
gap at ``--gap-threshold`` or the env's gymnasium ``reward_threshold`` (left out when neither exists).
Within a suite, aggregates use the tasks every variant of the suite has, and per variant the same
number of runs on each task (the lowest seeds, when a task has more). Every bootstrap draws from
its own generator seeded by ``(seed, what it estimates)``, so the report is deterministic and adding
a variant does not change another variant's intervals. Groups of fewer than ``MIN_RUNS`` runs are
flagged: their bootstrap intervals are unreliable. Learning curves and their bands are clipped to the
task's possible return range (:meth:`Run.return_range`, or ``--return-range``) where it is known.
"""

from __future__ import annotations

import csv
import logging
import math
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.analysis import stats
from rlkit.analysis.plots import slug, write_plots
from rlkit.analysis.runs import LoadedRuns, Run, RunsError, ScoreMetric, load_runs, sweep_overrides
from rlkit.training.files import atomic_write, atomic_write_json

_log = logging.getLogger(__name__)

HNS_SUITE = "atari_hns"
PROFILE_POINTS = 101
MIN_RUNS = 5  # fewer runs per task: bootstrap CIs are unreliable (Agarwal et al. 2021 recommend more)
ALL_TASKS = "*"  # key of ReportOptions.return_ranges that applies to every task


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of :func:`write_report` (the ``rlkit-report`` flags)."""

    baseline: str | None = None  # default: "full" if present, else the first variant alphabetically
    reps: int = stats.DEFAULT_REPS
    seed: int = 0
    gap_threshold: float | None = None  # raw-return suites; default: gymnasium reward_threshold
    metric: ScoreMetric = "final"
    confidence: float = stats.DEFAULT_CONFIDENCE
    return_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # task or ALL_TASKS -> (lo, hi)
    references: Sequence[str] = ()  # published Atari-100k results to compare with (rlkit.analysis.reference)

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
            from rlkit.analysis.reference import parse_references

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


def _rng(seed: int, *key: str) -> np.random.Generator:
    """A generator for one estimate, from the report seed and a stable hash of what it estimates."""
    return np.random.default_rng([seed, zlib.crc32("|".join(key).encode())])


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


def _suites(runs: Sequence[Run], gap_override: float | None) -> dict[str, dict[str, Any]]:
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


def _score_matrices(
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
    tasks, excluded, matrices, notes = _score_matrices(suite["runs"], options.metric, suite["kind"])
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
            matrix, gamma=gamma, rng=_rng(options.seed, "aggregates", name, variant), **common
        )
    if baseline in matrices:
        for variant, matrix in matrices.items():
            if variant == baseline:
                continue
            interval = stats.probability_of_improvement_interval(
                matrix, matrices[baseline], rng=_rng(options.seed, "poi", name, variant, baseline), **common
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
                matrix, taus, rng=_rng(options.seed, "profile", name, variant), **common
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
        band = stats.mean_curve_interval(
            matrix, reps=options.reps, confidence=options.confidence, rng=_rng(options.seed, "curve", task, variant)
        )
        bounds = (ranges or {}).get(task, {}).get("range") or (-np.inf, np.inf)
        curves[task][variant] = {"steps": steps, "runs": len(series),
                                 **{k: np.clip(getattr(band, a), *bounds).tolist()
                                    for k, a in (("mean", "point"), ("lower", "lower"), ("upper", "upper"))}}
    return dict(curves)


# ----------------------------------------------------------------------------- files
def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def write(f: Any) -> None:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)

    atomic_write(path, write)


def _fmt(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _ci(est: dict[str, float]) -> str:
    return f"{_fmt(est['point'])} [{_fmt(est['lower'])}, {_fmt(est['upper'])}]"


def write_report(paths: Sequence[Path | str], out_dir: Path | str, options: ReportOptions | None = None) -> dict[str, Any]:
    """Load the runs under ``paths`` and write the report into ``out_dir``; returns what ``report.json`` holds."""
    options = options or ReportOptions()
    options.check()
    loaded: LoadedRuns = load_runs(paths)
    runs = loaded.runs
    variants = sorted({r.variant for r in runs})
    baseline, baseline_why = choose_baseline(variants, options.baseline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    scores = score_table(runs, options.metric)
    suites = {name: suite_estimates(name, s, baseline, options)  # the Atari HNS suite first, then by name
              for name, s in sorted(_suites(runs, options.gap_threshold).items(), key=lambda kv: (kv[0] != HNS_SUITE,
                                                                                                 kv[0]))}
    ranges = return_ranges(runs, options.return_ranges)
    curves = learning_curves(runs, options, ranges)
    files = write_plots(out, suites, curves, variants=variants, baseline=baseline, confidence=options.confidence)
    comparison = None
    if options.references:  # published Atari-100k results (imported here: the module builds on this one)
        from rlkit.analysis import reference

        comparison = reference.compare(runs, options)
        files.update(reference.write_outputs(out, comparison, options, variants))
    few = [{"task": r["task"], "variant": r["variant"], "runs": r["n_seeds"]} for r in scores if r["n_seeds"] < MIN_RUNS]
    if few:
        _log.warning("%d task/variant group(s) have fewer than %d runs: their intervals are unreliable", len(few),
                     MIN_RUNS)

    run_rows = [{"path": str(r.path), "variant": r.variant, "task": r.task, "env_id": r.env_id, "seed": r.seed,
                 "score": r.score(options.metric), "hns": r.hns(options.metric)}
                for r in sorted(runs, key=lambda r: (r.variant, r.task, r.seed))]
    grouping = loaded.grouping
    report = {
        "paths": [str(p) for p in paths], "metric": options.metric, "reps": options.reps, "seed": options.seed,
        "confidence": options.confidence, "baseline": baseline, "baseline_reason": baseline_why,
        "grouping": {"rule": grouping.rule, "keys": grouping.keys, "split": grouping.split},
        "variants": {v: {"runs": sum(r.variant == v for r in runs)} for v in variants},
        "sweep_overrides": sweep_overrides(paths), "skipped_runs": loaded.skipped,
        "few_runs": {"min_runs": MIN_RUNS, "groups": few}, "return_ranges": ranges,
        "runs": run_rows, "scores": scores, "suites": suites, "learning_curves": curves, "files": files,
        "reference": comparison,
    }
    _write_tables(out, report)
    atomic_write_json(out / "report.json", report)
    atomic_write(out / "report.md", lambda f: f.write(render_markdown(report)))
    return report


def _write_tables(out: Path, report: dict[str, Any]) -> None:
    _write_csv(out / "runs.csv", ["variant", "task", "env_id", "seed", "score", "hns", "path"],
               [[r["variant"], r["task"], r["env_id"], r["seed"], r["score"], r["hns"], r["path"]]
                for r in report["runs"]])
    _write_csv(out / "scores.csv",
               ["task", "variant", "env_id", "n_seeds", "score_mean", "score_std", "hns_mean", "hns_std"],
               [[r["task"], r["variant"], r["env_id"], r["n_seeds"], r["score_mean"], r["score_std"], r["hns_mean"],
                 r["hns_std"]] for r in report["scores"]])
    agg_rows, poi_rows = [], []
    for name, suite in report["suites"].items():
        for variant, metrics in suite["aggregates"].items():
            for metric, est in metrics.items():
                agg_rows.append([name, suite["kind"], variant, metric, est["point"], est["lower"], est["upper"],
                                 len(suite["tasks"]), suite["runs_per_task"][variant],
                                 suite["gap_threshold"] if metric == "optimality_gap" else None])
        for variant, est in suite["probability_of_improvement"].items():
            poi_rows.append([name, variant, report["baseline"], est["point"], est["lower"], est["upper"]])
    _write_csv(out / "aggregates.csv", ["suite", "kind", "variant", "metric", "point", "lower", "upper", "n_tasks",
                                        "runs_per_task", "gap_threshold"], agg_rows)
    _write_csv(out / "probability_of_improvement.csv",
               ["suite", "variant", "baseline", "point", "lower", "upper"], poi_rows)


def _image(alt: str, png: str) -> str:
    return f"![{alt}]({png}) ([SVG]({Path(png).with_suffix('.svg')}))"


def _variants_markdown(report: dict[str, Any]) -> list[str]:
    grouping = report["grouping"]
    lines = [f"**Variants**: {grouping['rule']}"
             + (f" (keys: {', '.join(f'`{k}`' for k in grouping['keys'])})" if grouping["keys"] else "")
             + f". **Baseline**: `{report['baseline']}`, {report['baseline_reason']}.", ""]
    for name, keys in grouping["split"].items():
        subs = [v for v in report["variants"] if v == name or v.startswith(f"{name}[")]
        lines.append(f"- Runs named `{name}` differ in config ({', '.join(f'`{k}`' for k in keys)}): kept apart as "
                     + ", ".join(f"`{v}`" for v in subs))
    return lines + ([""] if grouping["split"] else [])


def _few_runs_markdown(report: dict[str, Any]) -> list[str]:
    few, least = report["few_runs"]["groups"], report["few_runs"]["min_runs"]
    if not few:
        return []
    return [(f"> **Warning: too few runs.** {len(few)} of {len(report['scores'])} task/variant groups have fewer "
             f"than {least} runs (fewest: {min(g['runs'] for g in few)}), marked ⚠ below: with so few runs the "
             "bootstrap intervals are unreliable (typically too narrow). Agarwal et al. (2021) recommend more runs "
             "per task."), ""]


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md``: settings, warnings, variants, per-task scores, aggregates, improvement, plots (relative links)."""
    conf = f"{100 * report['confidence']:.0f}%"
    least = report["few_runs"]["min_runs"]

    def runs(n: int) -> str:
        return f"{n} ⚠" if n < least else str(n)

    lines = [
        "# rlkit report", "",
        (f"{len(report['runs'])} finished runs from {', '.join(f'`{p}`' for p in report['paths'])}. "
        f"Score per run: the **{report['metric']}** evaluation return (mean over its evaluation episodes). "
        f"Intervals: {conf} stratified-bootstrap percentile CIs, {report['reps']} resamples, seed {report['seed']} "
        "(Agarwal et al. 2021, *Deep RL at the Edge of the Statistical Precipice*)."), "",
        *_few_runs_markdown(report), *_variants_markdown(report),
    ]
    for sweep, overrides in report["sweep_overrides"].items():
        lines += [f"Sweep `{sweep}` overrides: `{' '.join(overrides)}`", ""]
    if report["skipped_runs"]:
        lines += [f"Skipped {len(report['skipped_runs'])} run directories:", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in report["skipped_runs"]] + [""]
    lines += ["| variant | runs |", "| --- | --- |"]
    lines += [f"| {v} | {info['runs']} |" for v, info in report["variants"].items()] + [""]

    lines += ["## Per-task scores", "", ("Mean ± sample std over seeds; HNS = human-normalised score (Atari-57 "
              "games)" + (f"; ⚠ fewer than {least} runs." if report["few_runs"]["groups"] else ".")), "",
              "| task | variant | seeds | score | HNS |", "| --- | --- | --- | --- | --- |"]
    for r in report["scores"]:
        hns = "–" if r["hns_mean"] is None else f"{_fmt(r['hns_mean'])} ± {_fmt(r['hns_std'])}"
        lines.append(f"| {r['task']} | {r['variant']} | {runs(r['n_seeds'])} | "
                     f"{_fmt(r['score_mean'])} ± {_fmt(r['score_std'])} | {hns} |")
    lines.append("")

    for name, suite in report["suites"].items():
        scale = "human-normalised scores" if suite["kind"] == "hns" else "raw returns"
        lines += [f"## Aggregates: {name}", "",
                  (f"On {scale} over {len(suite['tasks'])} task(s): {', '.join(suite['tasks']) or 'none'}. "
                  f"Optimality gap threshold: {_fmt(suite['gap_threshold'])} ({suite['gap_threshold_source']})."), ""]
        few = [v for v, n in suite["runs_per_task"].items() if n < least]
        notes = suite["notes"] + ([(f"**Warning**: fewer than {least} runs per task for {', '.join(few)}: "
                                    "their intervals below are unreliable")] if few else [])
        lines += [f"- {note}" for note in notes] + ([""] if notes else [])
        if suite["aggregates"]:
            metrics = list(next(iter(suite["aggregates"].values())))
            lines += ["| variant | runs/task | " + " | ".join(stats.AGGREGATES[m] for m in metrics) + " |",
                      "| --- | --- |" + " --- |" * len(metrics)]
            for variant, est in suite["aggregates"].items():
                lines.append(f"| {variant} | {runs(suite['runs_per_task'][variant])} | "
                             + " | ".join(_ci(est[m]) for m in metrics) + " |")
            lines += ["", _image(f"aggregates {name}", f"aggregates_{slug(name)}.png"), ""]
        if suite["probability_of_improvement"]:
            lines += [(f"Probability of improvement over `{report['baseline']}`, P(variant > baseline) "
                      "(Mann-Whitney U per task, averaged over tasks):"), "",
                      "| variant | P(variant > baseline) |", "| --- | --- |"]
            lines += [f"| {v} | {_ci(e)} |" for v, e in suite["probability_of_improvement"].items()]
            lines += ["", _image(f"probability of improvement {name}",
                                 f"probability_of_improvement_{slug(name)}.png"), ""]
        if suite["performance_profile"]:
            lines += [f"Performance profile (fraction of runs scoring above tau, {conf} bands):", "",
                      _image(f"performance profile {name}", f"performance_profile_{slug(name)}.png"), ""]

    if "learning_curves" in report["files"]:
        lines += ["## Learning curves", "", (f"Mean evaluation return over seeds with {conf} bootstrap bands, on the "
                  "evaluation steps all runs of a variant share; means and bands clipped to the possible return "
                  "range where it is known:"), ""]
        for task, info in report["return_ranges"].items():
            bounds = "not clipped" if info["range"] is None else f"[{_fmt(info['range'][0])}, {_fmt(info['range'][1])}]"
            few = [f"{v} ({c['runs']})" for v, c in report["learning_curves"].get(task, {}).items() if c["runs"] < least]
            lines.append(f"- {task}: {bounds} ({info['source']})"
                         + (f"; **warning**: fewer than {least} runs: {', '.join(few)}" if few else ""))
        lines += ["", _image("learning curves", "learning_curves.png"), ""]
    if report.get("reference"):
        from rlkit.analysis.reference import markdown

        lines += markdown(report["reference"], report["files"])
    lines += ["## Files", "", ("`scores.csv` (per task and variant), `runs.csv` (per run), `aggregates.csv`, "
              "`probability_of_improvement.csv`, "
              + ("`reference_games.csv`, `reference_aggregates.csv` (published reference), "
                 if report.get("reference") else "")
              + "`report.json` (every number, including profiles and curves); every plot as PNG and SVG."), ""]
    return "\n".join(lines)
