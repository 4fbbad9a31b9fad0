"""The files of a reference comparison: ``reference_games.csv``, ``reference_aggregates.csv``, a plot per
reference, and the "Published reference" section of ``report.md``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlkit.analysis import stats
from rlkit.analysis.plots import colors, reference_figure, save
from rlkit.analysis.reference_data import DER_COLUMNS, published_runs
from rlkit.analysis.reference_rules import DER_SE_WIDTH
from rlkit.analysis.report import write_csv
from rlkit.analysis.report_markdown import format_number, image_link
from rlkit.analysis.report_options import ReportOptions


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
        sources += [("published", label, est, agg["published_runs_per_game"])
                    for label, est in agg["published"].items()]
        for source, who, metrics, runs_per_game in sources:
            agg_rows += [[name, source, who, metric, e["point"], e["lower"], e["upper"], len(agg["games"]),
                          runs_per_game] for metric, e in metrics.items()]
    write_csv(out / "reference_games.csv",
               ["reference", "variant", "game", "seed", "n_runs", "score", "score_se", "percentile",
                "inside_central_90", "published_p5", "published_median", "published_p95", "published_runs",
                "der_2019", "der_rerun_100_runs", "der_verdict"], game_rows)
    write_csv(out / "reference_aggregates.csv",
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
        runs = ", ".join(f"{format_number(e['score'])} "
                         f"(p{e['percentile']:.0f} {'✓' if e['inside_central_90'] else '✗'})" for e in row["runs"])
        pub = row["published"]
        lines.append(f"| {row['game']} | {row['variant']} | {runs} | {format_number(pub['p5'])} | "
                     f"{format_number(pub['median'])} | {format_number(pub['p95'])} |")
    summary = [f"- `{v}`: {s['inside_central_90']} of {s['runs']} runs inside the central 90%; median percentile "
               f"{s['median_percentile']:.0f}" for v, s in section["summary"].items()]
    return summary + [""] + lines


def _means_table(section: Mapping[str, Any]) -> list[str]:
    lines = ["| game | variant | runs | rlkit mean ± SE | " + " | ".join(DER_COLUMNS.values()) + " | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in section["per_game"]:
        se = "" if row["se"] is None else f" ± {format_number(row['se'])}"
        lines.append(f"| {row['game']} | {row['variant']} | {row['runs']} | {format_number(row['mean'])}{se} | "
                     + " | ".join(format_number(row["published"][c]) for c in DER_COLUMNS) + f" | {row['verdict']} |")
    summary = [f"- `{v}`: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) + " (games)"
               for v, counts in section["summary"].items()]
    return summary + [""] + lines


def _estimate(est: Mapping[str, float | None]) -> str:
    if est["point"] is None:
        return "–"
    if est["lower"] is None:
        return format_number(est["point"])
    return f"{format_number(est['point'])} [{format_number(est['lower'])}, {format_number(est['upper'])}]"


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
            lines += [image_link(f"{section['label']} reference", files[f"reference/{name}"]), ""]
    return lines
