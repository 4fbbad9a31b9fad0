"""A study's Atari-100k runs against published results (``rlkit-report --reference``).

The published data are read in :mod:`rlkit.analysis.reference_data`, the rules are in
:mod:`rlkit.analysis.reference_rules` (:data:`~rlkit.analysis.reference_rules.RULES`, also in ``report.md``),
the CSV files, plots and ``report.md`` section are written by :mod:`rlkit.analysis.reference_output`;
this module compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rlkit.analysis import stats
from rlkit.analysis.hns import human_normalized_score
from rlkit.analysis.reference_data import (
    DATA_DIR,
    DER_COLUMNS,
    REFERENCES,
    Reference,
    ReferenceError,
    parse_references,
    published_means,
    published_runs,
    reference,
    reference_games,
)
from rlkit.analysis.reference_output import markdown, write_outputs
from rlkit.analysis.reference_rules import (
    ATARI100K_FRAMES,
    ATARI100K_STEPS,
    CENTRAL,
    DER_SE_WIDTH,
    RULES,
    central_interval,
    der_verdict,
    percentile_of_score,
    protocol_issues,
)
from rlkit.analysis.report_estimates import HNS_SUITE, bootstrap_rng, score_matrices
from rlkit.analysis.report_options import ReportOptions
from rlkit.analysis.run import Run

__all__ = [
    "ATARI100K_FRAMES", "ATARI100K_STEPS", "CENTRAL", "DATA_DIR", "DER_COLUMNS", "DER_SE_WIDTH", "REFERENCES", "RULES",
    "Reference", "ReferenceError", "central_interval", "compare", "der_verdict", "markdown", "parse_references",
    "percentile_of_score", "protocol_issues", "published_means", "published_runs", "reference", "reference_games",
    "write_outputs",
]


def _hns(game: str, scores: Iterable[float]) -> list[float]:
    return [human_normalized_score(game, s) for s in scores]


def _left_out(runs: Sequence[Run], games: set[str], label: str) -> list[dict[str, Any]]:
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.game not in games:
            by_task[run.task].append(run)
    out = []
    for task, members in sorted(by_task.items()):
        env = members[0].config.get("env") if isinstance(members[0].config.get("env"), dict) else {}
        reason = (f"not one of the {len(games)} Atari-100k games of {label}" if env.get("game") is not None
                  else "not an Atari game")
        out.append({"task": task, "runs": len(members), "reason": reason})
    return out


def _by_game_variant(runs: Iterable[Run]) -> dict[tuple[str, str], list[Run]]:
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(str(run.game), run.variant)].append(run)
    return {key: sorted(members, key=lambda r: r.seed) for key, members in sorted(groups.items())}


def _per_game_runs(name: str, runs: Sequence[Run], options: ReportOptions) -> tuple[list[dict], dict[str, dict]]:
    published = published_runs(name)
    rows, summary = [], {}
    for (game, variant), members in _by_game_variant(runs).items():
        interval = central_interval(published[game])
        entries = []
        for run in members:
            score = run.score(options.metric)
            entries.append({"seed": run.seed, "score": score, "percentile": percentile_of_score(score, published[game]),
                            "inside_central_90": interval["p5"] <= score <= interval["p95"]})
        rows.append({"game": game, "variant": variant, "published": {"runs": len(published[game]), **interval},
                     "runs": entries})
    for variant in sorted({row["variant"] for row in rows}):
        entries = [e for row in rows if row["variant"] == variant for e in row["runs"]]
        summary[variant] = {"runs": len(entries), "inside_central_90": sum(e["inside_central_90"] for e in entries),
                            "median_percentile": float(np.median([e["percentile"] for e in entries]))}
    return rows, summary


def _per_game_means(runs: Sequence[Run], options: ReportOptions) -> tuple[list[dict], dict[str, dict]]:
    published = published_means()
    rows = []
    for (game, variant), members in _by_game_variant(runs).items():
        scores = [r.score(options.metric) for r in members]
        se = float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else None
        mean = float(np.mean(scores))
        rows.append({"game": game, "variant": variant, "runs": len(scores), "scores": scores, "mean": mean, "se": se,
                     "published": published[game], **der_verdict(mean, se, published[game].values())})
    summary: dict[str, dict[str, int]] = defaultdict(lambda: {"within": 0, "near": 0, "below": 0, "above": 0})
    for row in rows:
        summary[row["variant"]][row["verdict"]] += 1
    return rows, dict(summary)


def _aggregates(ref: Reference, runs: Sequence[Run], options: ReportOptions) -> dict[str, Any]:
    games, excluded, matrices, notes = score_matrices(runs, options.metric, "hns")
    common = {"reps": options.reps, "confidence": options.confidence, "gamma": 1.0}
    # the generator of the Atari suite's aggregates: the same games and runs give the same intervals there and here
    rlkit = {variant: stats.aggregate_intervals(m, rng=bootstrap_rng(options.seed, "aggregates", HNS_SUITE, variant),
                                                **common)
             for variant, m in matrices.items()}
    published: dict[str, dict[str, dict[str, float | None]]] = {}
    published_runs_per_game = None
    if games and ref.kind == "runs":
        matrix = np.column_stack([_hns(g, published_runs(ref.name)[g]) for g in games])  # [runs, games]
        published_runs_per_game = int(matrix.shape[0])
        published[ref.label] = stats.aggregate_intervals(
            matrix, rng=bootstrap_rng(options.seed, "reference", ref.name, "published"), **common)
    elif games:
        for column, label in DER_COLUMNS.items():
            means = np.array([_hns(g, [published_means()[g][column]]) for g in games]).T  # [1, games]
            published[label] = {
                "median": {"point": float(stats.median_score(means)), "lower": None, "upper": None},
                "iqm": {"point": None, "lower": None, "upper": None},
                "mean": {"point": float(stats.mean_score(means)), "lower": None, "upper": None},
                "optimality_gap": {"point": None, "lower": None, "upper": None},
            }
    return {"games": games, "excluded_games": excluded, "notes": notes,
            "runs_per_game": {v: int(m.shape[0]) for v, m in matrices.items()},
            "published_runs_per_game": published_runs_per_game, "rlkit": rlkit, "published": published}


def compare(runs: Sequence[Run], options: ReportOptions) -> dict[str, Any]:
    """Compare ``runs`` with each Atari-100k reference of ``options.references`` (learning-curve references are
    :mod:`rlkit.analysis.curve_reference`'s); what ``report.json`` holds under ``"reference"``."""
    names = tuple(name for name in parse_references(options.references) if name in REFERENCES)
    atari100k = set().union(*(reference_games(n) for n in names)) if names else set()
    protocol = []
    for run in sorted(runs, key=lambda r: (r.variant, r.task, r.seed)):
        if run.game in atari100k and (issues := protocol_issues(run)):
            protocol.append({"variant": run.variant, "game": run.game, "seed": run.seed, "path": str(run.path),
                             "issues": issues})
    out: dict[str, Any] = {"references": list(names), "metric": options.metric, "confidence": options.confidence,
                           "rules": RULES, "protocol": protocol, "per_reference": {}}
    for name in names:
        ref = reference(name)
        games = set(reference_games(name))
        compared = [r for r in runs if r.game in games]
        per_game, summary = (_per_game_runs(name, compared, options) if ref.kind == "runs"
                             else _per_game_means(compared, options))
        out["per_reference"][name] = {
            "label": ref.label, "kind": ref.kind, "source": ref.source,
            "games": sorted({r.game for r in compared}), "left_out": _left_out(runs, games, ref.label),
            "per_game": per_game, "summary": summary, "aggregates": _aggregates(ref, compared, options),
        }
    return out
