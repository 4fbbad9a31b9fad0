"""Report figures (matplotlib Agg canvas, no pyplot state), each written as PNG and SVG side by side.

Every panel is at least ``PANEL_WIDTH`` x ``PANEL_HEIGHT`` inches at ``DPI`` (825 x 570 px); the
figure grows for long variant names and for legends, which sit below the axes, never over the data.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlkit.analysis import stats

DPI = 150
PANEL_WIDTH = 5.5  # inches, one panel with its tick labels
PANEL_HEIGHT = 3.8
LEGEND_ROW = 0.28  # inches per legend row
CHAR_WIDTH = 0.07  # inches per character of a small-font label (DejaVu Sans), to size legends and tick labels
MAX_COLUMNS = 3  # panels per row for one panel per task
CENTRAL_WHISKERS = (5.0, 95.0)  # box-plot whiskers of a published distribution: its central 90%


def slug(name: str) -> str:
    """A file-name-safe form of a suite or task name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "suite"


def colors(variants: Sequence[str]) -> dict[str, Any]:
    """One tab10 colour per variant, by sorted name (stable across plots of a report)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {v: cmap(i % 10) for i, v in enumerate(sorted(variants))}


def _count(counts: set[int], noun: str) -> str:
    """``"3 runs"``, ``"1 run"``, ``"2-5 runs"`` for a set of counts."""
    low, high = min(counts), max(counts)
    return f"{low} {noun}" if high == low == 1 else f"{low}{'' if high == low else f'-{high}'} {noun}s"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _legend_layout(labels: Sequence[str], width: float) -> tuple[int, float]:
    """(columns, height in inches) of a legend of ``labels`` below axes ``width`` inches wide."""
    entry = 0.6 + CHAR_WIDTH * max(len(label) for label in labels)  # handle + text
    ncols = max(1, min(len(labels), int(width // entry)))
    return ncols, 0.2 + LEGEND_ROW * math.ceil(len(labels) / ncols)


def _legend_below(fig: Any, handles: Sequence[Any], labels: Sequence[str], ncols: int) -> None:
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)


def save(fig: Any, png: Path) -> list[Path]:
    """Write ``fig`` to ``png`` and to the same name with ``.svg`` (no timestamps: same figure, same files)."""
    from matplotlib import rc_context

    svg = png.with_suffix(".svg")
    fig.savefig(png, format="png", metadata={"Software": None})
    with rc_context({"svg.hashsalt": "rlkit", "svg.fonttype": "none"}):
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return [png, svg]


def learning_curves_figure(curves: dict[str, dict[str, Any]], palette: dict[str, Any], *, confidence: float) -> Any:
    """One panel per task: mean eval return vs agent steps with a CI band per variant; one legend below."""
    from matplotlib.ticker import EngFormatter

    tasks = sorted(curves)
    ncols = min(MAX_COLUMNS, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    runs: dict[str, set[int]] = {}
    for per_variant in curves.values():
        for variant, c in per_variant.items():
            runs.setdefault(variant, set()).add(c["runs"])
    labels = {v: f"{v} ({_count(n, 'run')})" for v, n in sorted(runs.items())}
    legend_cols, legend_height = _legend_layout(list(labels.values()), ncols * PANEL_WIDTH)
    fig = _figure(ncols * PANEL_WIDTH, nrows * PANEL_HEIGHT + 0.4 + legend_height)
    handles = {}
    for i, task in enumerate(tasks):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for variant, c in sorted(curves[task].items()):
            (handles[variant],) = ax.plot(c["steps"], c["mean"], color=palette[variant])
            ax.fill_between(c["steps"], c["lower"], c["upper"], color=palette[variant], alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.set_xlabel("agent steps")
        ax.set_ylabel("mean eval return")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Mean evaluation return over runs, {100 * confidence:.0f}% bootstrap CI", fontsize="medium")
    _legend_below(fig, [handles[v] for v in labels], list(labels.values()), legend_cols)
    return fig


def intervals_figure(
    rows: dict[str, dict[str, dict[str, float]]], metrics: Sequence[str], palette: dict[str, Any], *,
    titles: dict[str, str], xlabel: str, suptitle: str, reference: float | None = None,
) -> Any:
    """One panel per metric (two per row): a horizontal CI bar and point estimate per variant (``rows[variant][metric]``)."""
    variants = sorted(rows)
    ncols = min(2, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    label_width = CHAR_WIDTH * max(len(v) for v in variants)
    panel_height = max(PANEL_HEIGHT, 1.2 + 0.35 * len(variants))
    fig = _figure(ncols * PANEL_WIDTH + label_width, nrows * panel_height + 0.4)
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for y, variant in enumerate(variants):
            est = rows[variant][metric]
            ax.barh(y, est["upper"] - est["lower"], left=est["lower"], height=0.6, color=palette[variant], alpha=0.6)
            ax.plot([est["point"]] * 2, [y - 0.3, y + 0.3], color="black", linewidth=1.5)
        if reference is not None:
            ax.axvline(reference, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(variants)), variants if i % ncols == 0 else [""] * len(variants))
        ax.set_ylim(len(variants) - 0.5, -0.5)  # first variant on top
        ax.use_sticky_edges = False  # keep a margin around bars that touch the data limits
        ax.margins(x=0.05)
        ax.set_title(titles.get(metric, metric))
        ax.set_xlabel(xlabel)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(suptitle, fontsize="medium")
    return fig


def profiles_figure(profile: dict[str, Any], palette: dict[str, Any], *, xlabel: str, title: str) -> Any:
    """Performance profiles: fraction of runs with score > tau, with bootstrap bands; legend below."""
    variants = sorted(profile["variants"])
    legend_cols, legend_height = _legend_layout(variants, PANEL_WIDTH)
    fig = _figure(PANEL_WIDTH, PANEL_HEIGHT + 0.4 + legend_height)
    ax = fig.add_subplot()
    taus = profile["taus"]
    handles = []
    for variant in variants:
        p = profile["variants"][variant]
        handles += ax.plot(taus, p["profile"], color=palette[variant])
        ax.fill_between(taus, p["lower"], p["upper"], color=palette[variant], alpha=0.2, linewidth=0)
    ax.set_xlabel(f"{xlabel} threshold $\\tau$")
    ax.set_ylabel(r"fraction of runs with score > $\tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    _legend_below(fig, handles, variants, legend_cols)
    return fig


def _reference_panel(ax: Any, game: dict[str, Any], variants: Sequence[str], palette: dict[str, Any],
                     markers: dict[str, str]) -> None:
    """One game of :func:`reference_figure`: published on row 0, one row per variant below."""
    if "published_runs" in game:  # matplotlib >= 3.10 spells vert=False orientation="horizontal"
        new_api = "orientation" in inspect.signature(ax.boxplot).parameters
        horizontal = {"orientation": "horizontal"} if new_api else {"vert": False}
        ax.boxplot([game["published_runs"]], positions=[0], **horizontal, whis=CENTRAL_WHISKERS, widths=0.6,
                   patch_artist=True, boxprops={"facecolor": "lightgray", "edgecolor": "gray"},
                   medianprops={"color": "black"}, flierprops={"marker": ".", "markersize": 3, "alpha": 0.5})
    means = game.get("published_means", {})
    for label, value in means.items():
        ax.plot([value], [0], linestyle="", marker=markers[label], color="black", markersize=7)
    if means:
        ax.axvspan(min(means.values()), max(means.values()), color="gray", alpha=0.15, linewidth=0)
    for row, variant in enumerate(variants, start=1):
        if variant in game.get("rlkit_bands", {}):
            mean, half = game["rlkit_bands"][variant]
            ax.errorbar([mean], [row], xerr=[half], fmt="|", color="black", markersize=14, capsize=4)
        scores = game["rlkit"].get(variant, [])
        jitter = [row + 0.25 * (k / max(len(scores) - 1, 1) - 0.5) for k in range(len(scores))]
        ax.plot(scores, jitter, linestyle="", marker="o", color=palette[variant], alpha=0.8, markersize=5)


def reference_figure(games: Sequence[dict[str, Any]], palette: dict[str, Any], *, reference: str,
                     metric: str = "final", band_label: str = "rlkit mean with error bar") -> Any:
    """One panel per game on its raw score: the published runs as a box (quartiles, median, whiskers at the 5th
    and 95th percentiles, runs beyond as dots) or the published means as markers, on the top row; each rlkit
    variant's runs as points on a row of its own (jittered by run). Panels are PANEL_WIDTH wide and half a panel
    high (a few rows each); one legend below.

    ``games``: ``{"game", "rlkit": {variant: [scores]}}`` plus ``"published_runs": [scores]``, or
    ``"published_means": {label: score}`` (drawn with the span between them shaded) and optionally
    ``"rlkit_bands": {variant: (mean, half width)}`` (drawn as the variant's mean with an error bar).
    """
    from matplotlib.lines import Line2D

    variants = sorted({v for g in games for v in g["rlkit"]})
    ncols = min(MAX_COLUMNS, len(games))
    nrows = math.ceil(len(games) / ncols)
    panel_height = max(PANEL_HEIGHT / 2, 1.0 + 0.4 * (1 + len(variants)))
    counts = {v: {len(g["rlkit"][v]) for g in games if v in g["rlkit"]} for v in variants}
    labels = [f"rlkit {v} ({_count(counts[v], 'run')} per game)" for v in variants]
    handles = [Line2D([], [], linestyle="", marker="o", color=palette[v], alpha=0.8) for v in variants]
    markers = {label: marker for g in games for label, marker in zip(g.get("published_means", {}), "Ds^v")}
    handles += [Line2D([], [], linestyle="", marker=m, color="black") for m in markers.values()]
    labels += [f"published: {label}" for label in markers]
    if any("rlkit_bands" in g for g in games):
        handles.append(Line2D([], [], linestyle="", marker="|", color="black", markersize=12))
        labels.append(band_label)
    if any("published_runs" in g for g in games):
        handles.append(Line2D([], [], color="gray", linewidth=6, alpha=0.5))
        low, high = CENTRAL_WHISKERS
        labels.append(f"published: {reference} runs (box: quartiles, whiskers: {low:g}th-{high:g}th percentile)")
    legend_cols, legend_height = _legend_layout(labels, ncols * PANEL_WIDTH)
    fig = _figure(ncols * PANEL_WIDTH, nrows * panel_height + 0.4 + legend_height)
    for i, game in enumerate(games):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _reference_panel(ax, game, variants, palette, markers)
        ax.set_yticks(range(1 + len(variants)), [reference] + [""] * len(variants))
        ax.set_ylim(len(variants) + 0.6, -0.6)  # published on top
        ax.use_sticky_edges = False
        ax.margins(x=0.05)
        ax.set_title(game["game"], fontsize="medium")
        ax.set_xlabel(f"{metric} eval return (raw score)", fontsize="small")
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"rlkit runs against {reference}, Atari 100k, per game", fontsize="medium")
    _legend_below(fig, handles, labels, legend_cols)
    return fig


def curve_reference_figure(section: dict[str, Any], palette: dict[str, Any]) -> Any:
    """One panel per game of a learning-curve comparison (:mod:`rlkit.analysis.curve_reference`): each published
    agent's whole curve (black/gray, dashed) and each rlkit variant's mean over seeds (solid) with its seeds' values
    (faint points), against the iteration index; one legend below."""
    from matplotlib.lines import Line2D

    rows = section["per_game"]
    games = section["games"]
    variants = sorted({row["variant"] for row in rows})
    agent_styles = dict(zip(section["agents"], [("black", "s"), ("dimgray", "D"), ("gray", "^"), ("silver", "v")]))
    labels = [f"rlkit {v} (mean over seeds; points: seeds)" for v in variants]
    handles = [Line2D([], [], color=palette[v], marker="o") for v in variants]
    labels += [f"published {agent}" for agent in agent_styles]
    handles += [Line2D([], [], color=c, marker=m, linestyle="--") for c, m in agent_styles.values()]
    ncols = min(MAX_COLUMNS, len(games))
    nrows = math.ceil(len(games) / ncols)
    legend_cols, legend_height = _legend_layout(labels, ncols * PANEL_WIDTH)
    fig = _figure(ncols * PANEL_WIDTH, nrows * PANEL_HEIGHT + 0.4 + legend_height)
    for k, game in enumerate(games):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for agent, (color, marker) in agent_styles.items():
            points = section["published_curves"].get(f"{game}/{agent}", {})
            ax.plot([int(i) for i in points], list(points.values()), color=color, marker=marker, linestyle="--",
                    markersize=4)
        for row in (r for r in rows if r["game"] == game):
            its = [it for it in row["iterations"] if it["mean"] is not None]
            ax.plot([it["iteration"] for it in its], [it["mean"] for it in its], color=palette[row["variant"]],
                    marker="o", markersize=5)
            seeds = [(it["iteration"], v) for it in row["iterations"] for v in it["per_seed"].values() if v is not None]
            ax.plot([x for x, _ in seeds], [y for _, y in seeds], linestyle="", marker=".",
                    color=palette[row["variant"]], alpha=0.4)
        ax.set_title(game, fontsize="medium")
        ax.set_xlabel(f"iteration ({section['iteration_steps']:,} agent steps each)", fontsize="small")
        ax.set_ylabel("mean training return", fontsize="small")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"rlkit runs against {section['label']}, per game", fontsize="medium")
    _legend_below(fig, handles, labels, legend_cols)
    return fig


def write_plots(out: Path, suites: dict[str, dict[str, Any]], curves: dict[str, dict[str, Any]], *,
                variants: Sequence[str], baseline: str, confidence: float) -> dict[str, str]:
    """Write the report's figures into ``out``; returns ``{what: PNG file name}`` (each PNG has its SVG)."""
    palette = colors(variants)
    conf = f"{100 * confidence:.0f}%"
    files: dict[str, str] = {}

    def write(key: str, fig: Any, name: str) -> None:
        files[key] = save(fig, out / name)[0].name

    if curves:
        write("learning_curves", learning_curves_figure(curves, palette, confidence=confidence), "learning_curves.png")
    for name, suite in suites.items():
        if not suite["aggregates"]:
            continue
        xlabel = "human-normalised score (0 random, 1 human)" if suite["kind"] == "hns" else "eval return"
        runs = _count(set(suite["runs_per_task"].values()), "run")
        write(f"aggregates/{name}", intervals_figure(
            suite["aggregates"], list(next(iter(suite["aggregates"].values()))), palette, titles=stats.AGGREGATES,
            xlabel=xlabel, suptitle=f"{name}: aggregate scores over {_count({len(suite['tasks'])}, 'task')}, {runs} "
            f"per task, {conf} stratified-bootstrap CIs"), f"aggregates_{slug(name)}.png")
        write(f"performance_profile/{name}", profiles_figure(
            suite["performance_profile"], palette, xlabel=xlabel, title=f"{name}: performance profile, {conf} bands"),
            f"performance_profile_{slug(name)}.png")
        if suite["probability_of_improvement"]:
            write(f"probability_of_improvement/{name}", intervals_figure(
                {v: {"poi": e} for v, e in suite["probability_of_improvement"].items()}, ["poi"], palette,
                titles={"poi": f"P(variant > {baseline})"}, xlabel="probability of improvement", reference=0.5,
                suptitle=f"{name}: probability of improvement over {baseline}, {conf} CIs"),
                f"probability_of_improvement_{slug(name)}.png")
    return files
