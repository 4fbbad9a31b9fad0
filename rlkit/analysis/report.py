"""Study report over finished runs: per-task tables, aggregate metrics with stratified-bootstrap CIs
(Agarwal et al. 2021), probability of improvement over a baseline, plots, ``report.md`` and CSV/JSON.

The numbers are computed in :mod:`rlkit.analysis.report_estimates`, ``report.md`` is rendered by
:mod:`rlkit.analysis.report_markdown`, the options are :class:`~rlkit.analysis.report_options.ReportOptions`;
this module writes the files.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlkit.analysis.plots import write_plots
from rlkit.analysis.reference_data import CURVE_REFERENCES, REFERENCES, parse_references
from rlkit.analysis.report_estimates import (
    HNS_SUITE,
    PROFILE_POINTS,
    bootstrap_rng,
    learning_curves,
    return_ranges,
    score_matrices,
    score_suites,
    score_table,
    suite_estimates,
)
from rlkit.analysis.report_markdown import render_markdown
from rlkit.analysis.report_options import ALL_TASKS, ReportOptions, choose_baseline, parse_return_range
from rlkit.analysis.runs import LoadedRuns, load_runs, sweep_overrides
from rlkit.utils.files import atomic_write, atomic_write_json

__all__ = [
    "ALL_TASKS", "HNS_SUITE", "MIN_RUNS", "PROFILE_POINTS", "ReportOptions", "bootstrap_rng", "choose_baseline",
    "learning_curves", "parse_return_range", "render_markdown", "return_ranges", "score_matrices", "score_suites",
    "score_table", "suite_estimates", "write_csv", "write_report",
]

_log = logging.getLogger(__name__)

MIN_RUNS = 5  # fewer runs per task: bootstrap CIs are unreliable (Agarwal et al. 2021 recommend more)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write ``header`` and ``rows`` to ``path`` atomically; ``None`` becomes an empty cell."""
    def write(f: Any) -> None:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)

    atomic_write(path, write)


def write_report(
    paths: Sequence[Path | str], out_dir: Path | str, options: ReportOptions | None = None
) -> dict[str, Any]:
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
    by_name = sorted(score_suites(runs, options.gap_threshold).items(), key=lambda kv: (kv[0] != HNS_SUITE, kv[0]))
    suites = {name: suite_estimates(name, s, baseline, options) for name, s in by_name}  # the Atari HNS suite first
    ranges = return_ranges(runs, options.return_ranges)
    curves = learning_curves(runs, options, ranges)
    files = write_plots(out, suites, curves, variants=variants, baseline=baseline, confidence=options.confidence)
    comparison = curve_comparison = None
    names = parse_references(options.references)
    if any(name in REFERENCES for name in names):  # Atari-100k (imported here: the module builds on this one)
        from rlkit.analysis.reference import compare
        from rlkit.analysis.reference_output import write_outputs

        comparison = compare(runs, options)
        files.update(write_outputs(out, comparison, options, variants))
    if curve_names := [name for name in names if name in CURVE_REFERENCES]:  # published learning curves
        from rlkit.analysis.curve_reference import compare_curves, write_curve_outputs

        curve_comparison = compare_curves(runs, curve_names)
        files.update(write_curve_outputs(out, curve_comparison, variants))
    few = [{"task": r["task"], "variant": r["variant"], "runs": r["n_seeds"]}
           for r in scores if r["n_seeds"] < MIN_RUNS]
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
        "added_keys": loaded.added_keys,
        "variants": {v: {"runs": sum(r.variant == v for r in runs)} for v in variants},
        "sweep_overrides": sweep_overrides(paths), "skipped_runs": loaded.skipped,
        "few_runs": {"min_runs": MIN_RUNS, "groups": few}, "return_ranges": ranges,
        "runs": run_rows, "scores": scores, "suites": suites, "learning_curves": curves, "files": files,
        "reference": comparison, "curve_reference": curve_comparison,
    }
    _write_tables(out, report)
    atomic_write_json(out / "report.json", report)
    atomic_write(out / "report.md", lambda f: f.write(render_markdown(report)))
    return report


def _write_tables(out: Path, report: dict[str, Any]) -> None:
    write_csv(out / "runs.csv", ["variant", "task", "env_id", "seed", "score", "hns", "path"],
              [[r["variant"], r["task"], r["env_id"], r["seed"], r["score"], r["hns"], r["path"]]
               for r in report["runs"]])
    write_csv(out / "scores.csv",
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
    write_csv(out / "aggregates.csv", ["suite", "kind", "variant", "metric", "point", "lower", "upper", "n_tasks",
                                       "runs_per_task", "gap_threshold"], agg_rows)
    write_csv(out / "probability_of_improvement.csv",
              ["suite", "variant", "baseline", "point", "lower", "upper"], poi_rows)
