"""A study's Atari-100k runs against published results (``rlkit-report --reference``).

Published data (raw final game scores after 100K agent steps = 400K frames, no sticky actions), shipped
in ``data/atari100k/`` with its sources in ``data/atari100k/SOURCE.md``:

* ``drq_eps``: DrQ(ε) (Yarats et al. 2021, with the ε-greedy settings of Agarwal et al. 2021) and
  ``spr``: SPR (Schwarzer et al. 2021, "Data-Efficient Reinforcement Learning with Self-Predictive
  Representations"), 100 runs per game each, from the data released with Agarwal et al. 2021, "Deep
  Reinforcement Learning at the Edge of the Statistical Precipice" (NeurIPS).
* ``der``: data-efficient Rainbow per-game means: van Hasselt et al. 2019 (as tabulated by Schwarzer
  et al. 2021) and the re-run analysed by Agarwal et al. 2021 (as tabulated by Schwarzer et al. 2023).

The rules are stated in :data:`RULES` (and in ``report.md``): percentile within a published run
distribution, inside its central 90%, the DER comparison, the aggregates, and the protocol check.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlkit.analysis import stats
from rlkit.analysis.hns import atari57_games, human_normalized_score
from rlkit.analysis.plots import CENTRAL_WHISKERS, colors, reference_figure, save
from rlkit.analysis.report import HNS_SUITE, ReportOptions, _fmt, _image, _rng, _score_matrices, _write_csv
from rlkit.analysis.runs import Run, RunsError
from rlkit.utils.atari_games import canonical_game

DATA_DIR = "atari100k"
ATARI100K_STEPS = 100_000  # agent steps (Kaiser et al. 2020)
ATARI100K_FRAMES = 400_000  # = steps x frame skip 4
CENTRAL = CENTRAL_WHISKERS  # percentiles bounding the central 90% of a published distribution
DER_SE_WIDTH = 2.0  # the DER span is widened by this many standard errors of the rlkit mean
DER_COLUMNS = {"der_2019": "DER (van Hasselt et al. 2019)", "der_rerun_100_runs": "DER re-run (Agarwal et al. 2021)"}


@dataclass(frozen=True)
class Reference:
    """One published result: ``kind`` "runs" (per-run final scores) or "means" (per-game means)."""

    name: str
    label: str
    kind: Literal["runs", "means"]
    file: str
    source: str


REFERENCES: dict[str, Reference] = {ref.name: ref for ref in (
    Reference("drq_eps", "DrQ(ε)", "runs", "drq_eps_runs.csv",
              "DrQ(ε), Yarats et al. 2021 with the settings of Agarwal et al. 2021; 100 runs per game released with "
              "Agarwal et al. 2021"),
    Reference("spr", "SPR", "runs", "spr_runs.csv",
              "SPR, Schwarzer et al. 2021; 100 runs per game released with Agarwal et al. 2021"),
    Reference("der", "DER", "means", "der_game_means.csv",
              "data-efficient Rainbow per-game means: van Hasselt et al. 2019 (as tabulated by Schwarzer et al. 2021) "
              "and the re-run analysed by Agarwal et al. 2021 (as tabulated by Schwarzer et al. 2023)"),
)}

RULES: dict[str, str] = {
    "percentile": ("Percentile of an rlkit run: the share of the published runs of its game that score below it, "
                   "ties counted half: 100 · (#below + #equal / 2) / #runs. Inside the central 90%: the published 5th "
                   "percentile ≤ score ≤ the published 95th percentile (numpy's linear interpolation; the whiskers of "
                   "the plot). Were rlkit's runs drawn from the published distribution, about 90% of them would lie "
                   "inside."),
    "der": (f"DER: the two published per-game means span [low, high]; the rlkit per-game mean is *within* when "
            f"low ≤ mean ≤ high, *near* when outside it but inside the span widened by {DER_SE_WIDTH:g} standard "
            "errors of the rlkit mean (sample std / √runs) on each side, else *below* or *above*. With one run there "
            "is no standard error: within, below or above."),
    "aggregates": ("Aggregates: human-normalised scores over the compared games that every variant ran; rlkit per "
                   "variant with the same number of runs per game (its lowest seeds), published runs restricted to "
                   "the same games, both with stratified-bootstrap CIs (Agarwal et al. 2021). DER has per-game "
                   "means only: median and mean as point estimates without CIs; IQM and optimality gap need "
                   "per-run scores and are left out."),
    "protocol": (f"Atari 100k: {ATARI100K_STEPS:,} agent steps = {ATARI100K_FRAMES:,} frames (frame skip 4), no "
                 "sticky actions. Runs that differ are listed with a warning and compared all the same."),
}


class ReferenceError(RunsError):
    """An unknown reference name; the message lists the valid ones."""


# ----------------------------------------------------------------------------- data
def _rows(file: str) -> list[dict[str, str]]:
    text = resources.files("rlkit.analysis").joinpath("data", DATA_DIR, file).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if line.strip()))


def _game(name: str) -> str:
    """ale-py's id of a game as the published files spell it (``KungFuMaster`` -> ``kung_fu_master``)."""
    return canonical_game(name, atari57_games(), source="Atari-57 games with human/random scores")


@functools.cache
def published_runs(name: str) -> dict[str, np.ndarray]:
    """``game -> final scores`` (raw, in run order, read-only) of a "runs" reference (``drq_eps``, ``spr``)."""
    ref = reference(name)
    if ref.kind != "runs":
        raise ValueError(f"{name} has per-game means, not runs")
    by_game: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in _rows(ref.file):
        by_game[_game(row["game"])].append((int(row["run"]), float(row["score"])))
    out = {}
    for game, runs in sorted(by_game.items()):
        scores = np.array([score for _, score in sorted(runs)], dtype=np.float64)
        scores.setflags(write=False)
        out[game] = scores
    return out


@functools.cache
def published_means() -> dict[str, dict[str, float]]:
    """``game -> {"der_2019": mean, "der_rerun_100_runs": mean}``: DER's published per-game mean scores."""
    return {_game(row["game"]): {col: float(row[col]) for col in DER_COLUMNS} for row in _rows(REFERENCES["der"].file)}


def reference(name: str) -> Reference:
    """The reference called ``name``; :class:`ReferenceError` lists the valid names."""
    if name not in REFERENCES:
        raise ReferenceError(f"unknown reference {name!r}; valid names: {', '.join(sorted(REFERENCES))}")
    return REFERENCES[name]


def reference_games(name: str) -> list[str]:
    """The games (ale-py ids, sorted) of a reference."""
    return sorted(published_runs(name) if reference(name).kind == "runs" else published_means())


def parse_references(values: Iterable[str]) -> tuple[str, ...]:
    """Names from repeated and/or comma-separated values, deduplicated in order; unknown ones raise :class:`ReferenceError`."""
    names: list[str] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part and reference(part).name not in names:
                names.append(part)
    return tuple(names)


# ----------------------------------------------------------------------------- rules
def percentile_of_score(score: float, distribution: Sequence[float] | np.ndarray) -> float:
    """Percentile rank of ``score`` in ``distribution``: ``100 * (#below + #equal / 2) / n``."""
    values = np.asarray(distribution, dtype=np.float64)
    if values.size == 0:
        raise ValueError("percentile_of_score needs a non-empty distribution")
    below = np.count_nonzero(values < score)
    equal = np.count_nonzero(values == score)
    return float(100.0 * (below + 0.5 * equal) / values.size)


def central_interval(distribution: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"p5", "median", "p95"}`` of ``distribution`` (numpy's linear interpolation)."""
    p5, median, p95 = np.percentile(np.asarray(distribution, dtype=np.float64), [CENTRAL[0], 50.0, CENTRAL[1]])
    return {"p5": float(p5), "median": float(median), "p95": float(p95)}


def der_verdict(mean: float, se: float | None, published: Iterable[float]) -> dict[str, Any]:
    """The DER rule (:data:`RULES`): ``{"low", "high", "widened_low", "widened_high", "verdict"}``."""
    values = list(published)
    low, high = min(values), max(values)
    pad = DER_SE_WIDTH * se if se is not None else 0.0
    if low <= mean <= high:
        verdict = "within"
    elif low - pad <= mean <= high + pad:
        verdict = "near"
    else:
        verdict = "below" if mean < low else "above"
    return {"low": low, "high": high, "widened_low": low - pad, "widened_high": high + pad, "verdict": verdict}


def protocol_issues(run: Run) -> list[str]:
    """How ``run`` departs from Atari 100k: its agent steps (``summary.json``, else ``train.steps``), frames
    (``summary.json``, else steps x ``env.frame_skip``) and sticky actions; ``[]`` when it does not."""
    env = run.config.get("env") if isinstance(run.config.get("env"), dict) else {}
    train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
    steps = next((v for v in (run.summary.get("steps"), train.get("steps")) if _integer(v)), None)
    frames = run.summary.get("frames")
    if not _integer(frames):
        frames = steps * env["frame_skip"] if steps is not None and _integer(env.get("frame_skip")) else None
    issues = []
    if steps is None:
        issues.append("agent steps unknown (no `steps` in summary.json, no `train.steps` in config.yaml)")
    elif steps != ATARI100K_STEPS or (frames is not None and frames != ATARI100K_FRAMES):
        shown = "frames unknown" if frames is None else f"{frames:,} frames"
        issues.append(f"{steps:,} agent steps = {shown}, not {ATARI100K_STEPS:,} = {ATARI100K_FRAMES:,}")
    sticky = env.get("sticky_action_prob")
    if isinstance(sticky, (int, float)) and not isinstance(sticky, bool) and sticky > 0:
        issues.append(f"sticky actions (p = {sticky:g}); the published runs used none")
    return issues


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- comparison
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
    games, excluded, matrices, notes = _score_matrices(runs, options.metric, "hns")
    common = {"reps": options.reps, "confidence": options.confidence, "gamma": 1.0}
    # the generator of the Atari suite's aggregates: the same games and runs give the same intervals there and here
    rlkit = {variant: stats.aggregate_intervals(m, rng=_rng(options.seed, "aggregates", HNS_SUITE, variant), **common)
             for variant, m in matrices.items()}
    published: dict[str, dict[str, dict[str, float | None]]] = {}
    published_runs_per_game = None
    if games and ref.kind == "runs":
        matrix = np.column_stack([_hns(g, published_runs(ref.name)[g]) for g in games])  # [runs, games]
        published_runs_per_game = int(matrix.shape[0])
        published[ref.label] = stats.aggregate_intervals(
            matrix, rng=_rng(options.seed, "reference", ref.name, "published"), **common)
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
    """Compare ``runs`` with each of ``options.references``; what ``report.json`` holds under ``"reference"``."""
    names = parse_references(options.references)
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


# ----------------------------------------------------------------------------- files
def _plot_games(name: str, section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per compared game: the published runs or means and each variant's rlkit scores, for the plot."""
    games: dict[str, dict[str, Any]] = {}
    for row in section["per_game"]:
        entry = games.setdefault(row["game"], {"game": row["game"], "rlkit": {}})
        if section["kind"] == "runs":
            entry["rlkit"][row["variant"]] = [e["score"] for e in row["runs"]]
            entry["published_runs"] = published_runs(name)[row["game"]].tolist()
        else:
            entry["rlkit"][row["variant"]] = row["scores"]
            entry.setdefault("rlkit_bands", {})[row["variant"]] = (row["mean"], row["low"] - row["widened_low"])
            entry["published_means"] = {DER_COLUMNS[c]: v for c, v in row["published"].items()}
    return list(games.values())


def write_outputs(out: Path, comparison: Mapping[str, Any], options: ReportOptions,
                  variants: Sequence[str]) -> dict[str, str]:
    """Write ``reference_games.csv``, ``reference_aggregates.csv`` and a plot per reference; returns ``{key: PNG}``."""
    game_rows, agg_rows = [], []
    for name, section in comparison["per_reference"].items():
        for row in section["per_game"]:
            if section["kind"] == "runs":
                pub = row["published"]
                game_rows += [[name, row["variant"], row["game"], e["seed"], 1, e["score"], None, e["percentile"],
                               int(e["inside_central_90"]), pub["p5"], pub["median"], pub["p95"], pub["runs"],
                               None, None, None] for e in row["runs"]]
            else:
                game_rows.append([name, row["variant"], row["game"], None, row["runs"], row["mean"], row["se"], None,
                                  None, None, None, None, None, row["published"]["der_2019"],
                                  row["published"]["der_rerun_100_runs"], row["verdict"]])
        agg = section["aggregates"]
        sources = [("rlkit", v, est, agg["runs_per_game"][v]) for v, est in agg["rlkit"].items()]
        sources += [("published", label, est, agg["published_runs_per_game"]) for label, est in agg["published"].items()]
        for source, who, metrics, runs_per_game in sources:
            agg_rows += [[name, source, who, metric, e["point"], e["lower"], e["upper"], len(agg["games"]),
                          runs_per_game] for metric, e in metrics.items()]
    _write_csv(out / "reference_games.csv",
               ["reference", "variant", "game", "seed", "n_runs", "score", "score_se", "percentile",
                "inside_central_90", "published_p5", "published_median", "published_p95", "published_runs",
                "der_2019", "der_rerun_100_runs", "der_verdict"], game_rows)
    _write_csv(out / "reference_aggregates.csv",
               ["reference", "source", "variant", "metric", "point", "lower", "upper", "n_games", "runs_per_game"],
               agg_rows)
    palette = colors(variants)
    files = {}
    for name, section in comparison["per_reference"].items():
        games = _plot_games(name, section)
        if games:
            fig = reference_figure(games, palette, reference=section["label"], metric=options.metric,
                                   band_label=f"rlkit mean ± {DER_SE_WIDTH:g} SE; shaded: span of the published means")
            files[f"reference/{name}"] = save(fig, out / f"reference_{name}.png")[0].name
    return files


# ----------------------------------------------------------------------------- report.md
def _runs_table(section: Mapping[str, Any]) -> list[str]:
    lines = [("| game | variant | rlkit runs: score (percentile, ✓ inside / ✗ outside the central 90%) | "
              "published 5th pct | median | 95th pct |"), "| --- | --- | --- | --- | --- | --- |"]
    for row in section["per_game"]:
        runs = ", ".join(f"{_fmt(e['score'])} (p{e['percentile']:.0f} {'✓' if e['inside_central_90'] else '✗'})"
                         for e in row["runs"])
        pub = row["published"]
        lines.append(f"| {row['game']} | {row['variant']} | {runs} | {_fmt(pub['p5'])} | {_fmt(pub['median'])} | "
                     f"{_fmt(pub['p95'])} |")
    summary = [f"- `{v}`: {s['inside_central_90']} of {s['runs']} runs inside the central 90%; median percentile "
               f"{s['median_percentile']:.0f}" for v, s in section["summary"].items()]
    return summary + [""] + lines


def _means_table(section: Mapping[str, Any]) -> list[str]:
    lines = ["| game | variant | runs | rlkit mean ± SE | " + " | ".join(DER_COLUMNS.values()) + " | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in section["per_game"]:
        se = "" if row["se"] is None else f" ± {_fmt(row['se'])}"
        lines.append(f"| {row['game']} | {row['variant']} | {row['runs']} | {_fmt(row['mean'])}{se} | "
                     + " | ".join(_fmt(row["published"][c]) for c in DER_COLUMNS) + f" | {row['verdict']} |")
    summary = [f"- `{v}`: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) + " (games)"
               for v, counts in section["summary"].items()]
    return summary + [""] + lines


def _estimate(est: Mapping[str, float | None]) -> str:
    if est["point"] is None:
        return "–"
    if est["lower"] is None:
        return _fmt(est["point"])
    return f"{_fmt(est['point'])} [{_fmt(est['lower'])}, {_fmt(est['upper'])}]"


def _aggregates_table(agg: Mapping[str, Any], conf: str) -> list[str]:
    metrics = list(stats.AGGREGATES)
    lines = [f"Aggregates of human-normalised scores over {len(agg['games'])} game(s) ({conf} CIs):", "",
             "| who | runs/game | " + " | ".join(stats.AGGREGATES[m] for m in metrics) + " |",
             "| --- | --- |" + " --- |" * len(metrics)]
    for variant, est in agg["rlkit"].items():
        lines.append(f"| rlkit `{variant}` | {agg['runs_per_game'][variant]} | "
                     + " | ".join(_estimate(est[m]) for m in metrics) + " |")
    for label, est in agg["published"].items():
        runs = agg["published_runs_per_game"] or "per-game means"
        lines.append(f"| {label} | {runs} | " + " | ".join(_estimate(est[m]) for m in metrics) + " |")
    return lines + [""]


def _protocol_markdown(protocol: Sequence[Mapping[str, Any]]) -> list[str]:
    by_issue: dict[str, list[str]] = defaultdict(list)
    for run in protocol:
        for issue in run["issues"]:
            by_issue[issue].append(f"{run['variant']}/{run['game']}/seed{run['seed']}")
    lines = []
    for issue, names in by_issue.items():
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        lines.append(f"> **Warning: not the Atari-100k protocol.** {len(names)} run(s): {issue}: {shown}.")
    return lines + ([""] if lines else [])


def markdown(comparison: Mapping[str, Any], files: Mapping[str, str]) -> list[str]:
    """The "Published reference" section of ``report.md``."""
    conf = f"{100 * comparison['confidence']:.0f}%"
    lines = ["## Published reference", "", *_protocol_markdown(comparison["protocol"])]
    if comparison["metric"] != "final":
        lines += [(f"> **Note**: runs are scored by their **{comparison['metric']}** evaluation; the published "
                   "scores are final scores."), ""]
    lines += [f"- {text}" for text in comparison["rules"].values()] + [""]
    for name, section in comparison["per_reference"].items():
        lines += [f"### {section['label']} (`{name}`)", "", f"Source: {section['source']}.", ""]
        notes = [f"- Left out: {x['task']} ({x['runs']} run(s)): {x['reason']}" for x in section["left_out"]]
        notes += [f"- {note}" for note in section["aggregates"]["notes"]]
        lines += notes + ([""] if notes else [])
        if not section["games"]:
            lines += ["No game of this study is in this reference: nothing to compare.", ""]
            continue
        lines += [f"Compared games: {', '.join(section['games'])}.", ""]
        lines += (_runs_table(section) if section["kind"] == "runs" else _means_table(section)) + [""]
        if section["aggregates"]["games"]:
            lines += _aggregates_table(section["aggregates"], conf)
        if f"reference/{name}" in files:
            lines += [_image(f"{section['label']} reference", files[f"reference/{name}"]), ""]
    return lines
