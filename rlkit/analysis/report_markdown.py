"""``report.md``: a study report rendered as Markdown from what ``report.json`` holds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rlkit.analysis import stats
from rlkit.analysis.plots import slug


def format_number(value: float | None) -> str:
    """Four significant digits; ``–`` for None, NaN and infinities."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _ci(est: dict[str, float]) -> str:
    return f"{format_number(est['point'])} [{format_number(est['lower'])}, {format_number(est['upper'])}]"


def image_link(alt: str, png: str) -> str:
    """A Markdown image of ``png`` followed by a link to its SVG twin."""
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
    added = report.get("added_keys") or {}
    if added:
        lines.append("- Runs trained before some config keys existed lack them; each reads as today's default for the "
                     "run's command line (`rlkit.analysis.added_keys`): "
                     + ", ".join(f"`{key}` = {', '.join(f'`{v}`' for v in a['values'])} ({a['runs']} runs)"
                                 for key, a in added.items()))
    return lines + ([""] if grouping["split"] or added else [])


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
        hns = "–" if r["hns_mean"] is None else f"{format_number(r['hns_mean'])} ± {format_number(r['hns_std'])}"
        lines.append(f"| {r['task']} | {r['variant']} | {runs(r['n_seeds'])} | "
                     f"{format_number(r['score_mean'])} ± {format_number(r['score_std'])} | {hns} |")
    lines.append("")

    for name, suite in report["suites"].items():
        scale = "human-normalised scores" if suite["kind"] == "hns" else "raw returns"
        lines += [f"## Aggregates: {name}", "",
                  (f"On {scale} over {len(suite['tasks'])} task(s): {', '.join(suite['tasks']) or 'none'}. "
                  f"Optimality gap threshold: {format_number(suite['gap_threshold'])} "
                  f"({suite['gap_threshold_source']})."), ""]
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
            lines += ["", image_link(f"aggregates {name}", f"aggregates_{slug(name)}.png"), ""]
        if suite["probability_of_improvement"]:
            lines += [(f"Probability of improvement over `{report['baseline']}`, P(variant > baseline) "
                      "(Mann-Whitney U per task, averaged over tasks):"), "",
                      "| variant | P(variant > baseline) |", "| --- | --- |"]
            lines += [f"| {v} | {_ci(e)} |" for v, e in suite["probability_of_improvement"].items()]
            lines += ["", image_link(f"probability of improvement {name}",
                                 f"probability_of_improvement_{slug(name)}.png"), ""]
        if suite["performance_profile"]:
            lines += [f"Performance profile (fraction of runs scoring above tau, {conf} bands):", "",
                      image_link(f"performance profile {name}", f"performance_profile_{slug(name)}.png"), ""]

    if "learning_curves" in report["files"]:
        lines += ["## Learning curves", "", (f"Mean evaluation return over seeds with {conf} bootstrap bands, on the "
                  "evaluation steps all runs of a variant share; means and bands clipped to the possible return "
                  "range where it is known:"), ""]
        for task, info in report["return_ranges"].items():
            lo_hi = info["range"]
            bounds = "not clipped" if lo_hi is None else f"[{format_number(lo_hi[0])}, {format_number(lo_hi[1])}]"
            curves = report["learning_curves"].get(task, {})
            few = [f"{v} ({c['runs']})" for v, c in curves.items() if c["runs"] < least]
            lines.append(f"- {task}: {bounds} ({info['source']})"
                         + (f"; **warning**: fewer than {least} runs: {', '.join(few)}" if few else ""))
        lines += ["", image_link("learning curves", "learning_curves.png"), ""]
    if report.get("reference"):
        from rlkit.analysis.reference_output import markdown  # it builds on this module

        lines += markdown(report["reference"], report["files"])
    if report.get("curve_reference"):
        from rlkit.analysis.curve_reference import curve_markdown  # it builds on this module

        lines += curve_markdown(report["curve_reference"], report["files"])
    lines += ["## Files", "", ("`scores.csv` (per task and variant), `runs.csv` (per run), `aggregates.csv`, "
              "`probability_of_improvement.csv`, "
              + ("`reference_games.csv`, `reference_aggregates.csv` (published reference), "
                 if report.get("reference") else "")
              + ("`reference_curves.csv` (published learning curves), " if report.get("curve_reference") else "")
              + "`report.json` (every number, including profiles and curves); every plot as PNG and SVG."), ""]
    return "\n".join(lines)
