"""A study's runs against published learning curves (``rlkit-report --reference revisiting_rainbow``).

The published curves (:data:`~rlkit.analysis.reference_data.CURVE_REFERENCES`) give, per game and agent, the mean
return of the *training* episodes of each iteration of ``iteration_steps`` agent steps, as Dopamine's
``TrainRunner`` logs it (it has no evaluation phase). rlkit's counterpart is the mean of ``charts/episodic_return``
over the episodes that ended in the iteration (Dopamine counts an episode in the iteration where it started: the
two differ by at most one episode per iteration). Only iterations a run completed are compared. The published
points carry no interval (read off a figure), so this module reports rlkit's means, spread and per-seed values
beside them and leaves the verdict to the reader; where a variant is named like a published agent (``dqn``,
``rainbow``, as the MinAtar study's are), also the ratio of rlkit's mean to that agent's published one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.analysis.reference_data import CurveReference, curve_reference, published_curves
from rlkit.analysis.run import Run

TRAIN_KEY = "charts/episodic_return"
APPROXIMATE_READS = {"eye": "read by eye (±0.3)", "pixel_partial": "marker partly covered (looser colour match)"}


def iteration_means(run: Run, iteration_steps: int) -> list[float]:
    """Mean training return of the episodes that ended in each iteration the run completed (NaN where none did)."""
    steps = run.summary.get("steps", run.config.get("train", {}).get("steps", 0))
    n = int(steps) // iteration_steps
    sums, counts = np.zeros(n), np.zeros(n)
    for record in run.records:
        value, step = record.get(TRAIN_KEY), record.get("step")
        if isinstance(value, (int, float)) and math.isfinite(value) and isinstance(step, int) and step >= 1:
            i = (step - 1) // iteration_steps  # an episode ending at step k*iteration_steps belongs to iteration k-1
            if i < n:
                sums[i] += value
                counts[i] += 1
    return [float(s / c) if c else math.nan for s, c in zip(sums, counts)]


def _env(run: Run) -> dict[str, Any]:
    env = run.config.get("env")
    return env if isinstance(env, dict) else {}


def _protocol_issues(run: Run, ref: CurveReference) -> list[str]:
    env = _env(run)
    return [f"env.{key}={env.get(key)!r}, the published runs used {value!r}"
            for key, value in ref.protocol.items() if env.get(key) != value]


def _compare_one(ref: CurveReference, runs: Sequence[Run]) -> dict[str, Any]:
    published = published_curves(ref.name)
    games = sorted({game for game, _ in published})
    agents = sorted({agent for _, agent in published})
    groups: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(dict)  # (game, variant) -> seed -> means
    left_out: dict[tuple[str, str], int] = defaultdict(int)
    protocol = []
    for run in sorted(runs, key=lambda r: (r.variant, r.task, r.seed)):
        env = _env(run)
        if env.get("name") != ref.env or env.get("game") not in games:
            why = (f"not a {ref.env} run" if env.get("name") != ref.env
                   else f"game {env.get('game')!r} is not one of {', '.join(games)}")
            left_out[(run.task, why)] += 1
            continue
        means = iteration_means(run, ref.iteration_steps)
        if not means:
            left_out[(run.task, f"shorter than one iteration ({ref.iteration_steps:,} agent steps)")] += 1
            continue
        groups[(env["game"], run.variant)][run.seed] = means
        if issues := _protocol_issues(run, ref):
            protocol.append({"variant": run.variant, "game": env["game"], "seed": run.seed, "issues": issues})
    rows = []
    for (game, variant), per_seed in sorted(groups.items()):
        per_seed = dict(sorted(per_seed.items()))
        iterations = []
        for i in range(max(len(means) for means in per_seed.values())):
            values = [means[i] for means in per_seed.values() if i < len(means) and math.isfinite(means[i])]
            iterations.append({
                "iteration": i, "end_step": (i + 1) * ref.iteration_steps, "runs": len(values),
                "mean": float(np.mean(values)) if values else None,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "per_seed": {seed: (means[i] if i < len(means) and math.isfinite(means[i]) else None)
                             for seed, means in per_seed.items()},
                "published": {agent: (None if (p := published.get((game, agent), {}).get(i)) is None
                                      else {"value": p[0], "read": p[1]}) for agent in agents},
            })
            same = iterations[-1]["published"].get(variant)  # a variant named like a published agent
            mean = iterations[-1]["mean"]
            iterations[-1]["ratio"] = (mean / same["value"] if same and mean is not None and same["value"] != 0
                                       else None)
        rows.append({"game": game, "variant": variant, "seeds": sorted(per_seed), "iterations": iterations})
    return {"label": ref.label, "source": ref.source, "iteration_steps": ref.iteration_steps, "agents": agents,
            "games": sorted({row["game"] for row in rows}), "protocol": protocol, "per_game": rows,
            "published_curves": {f"{game}/{agent}": {str(i): v for i, (v, _) in sorted(points.items())}
                                 for (game, agent), points in sorted(published.items())},
            "left_out": [{"task": task, "runs": n, "reason": why} for (task, why), n in sorted(left_out.items())]}


def compare_curves(runs: Sequence[Run], names: Sequence[str]) -> dict[str, Any]:
    """Compare ``runs`` with each learning-curve reference in ``names``; ``report.json``'s ``"curve_reference"``."""
    return {"references": list(names),
            "per_reference": {name: _compare_one(curve_reference(name), runs) for name in names}}


# ----------------------------------------------------------------------------- files and report.md
def _published(point: Mapping[str, Any] | None) -> str:
    if point is None:
        return "–"
    return ("≈" if point["read"] in APPROXIMATE_READS else "") + f"{point['value']:.1f}"


def write_curve_outputs(out: Path, comparison: Mapping[str, Any], variants: Sequence[str]) -> dict[str, str]:
    """Write ``reference_curves.csv`` and a plot per reference; returns ``{key: PNG name}``."""
    from rlkit.analysis.plots import colors, curve_reference_figure, save
    from rlkit.analysis.report import write_csv

    rows = []
    for name, section in comparison["per_reference"].items():
        for row in section["per_game"]:
            for it in row["iterations"]:
                published = [x for agent in section["agents"] for x in
                             ((it["published"][agent] or {}).get("value"), (it["published"][agent] or {}).get("read"))]
                rows.append([name, row["variant"], row["game"], it["iteration"], it["end_step"], it["runs"],
                             it["mean"], it["std"], ";".join("" if v is None else f"{v:.4g}"
                                                             for v in it["per_seed"].values()), *published,
                             it["ratio"]])
    agents = sorted({a for s in comparison["per_reference"].values() for a in s["agents"]})
    write_csv(out / "reference_curves.csv",
              ["reference", "variant", "game", "iteration", "end_step", "runs", "rlkit_mean", "rlkit_std",
               "rlkit_per_seed", *[c for a in agents for c in (f"published_{a}", f"published_{a}_read")],
               "ratio_to_same_agent"], rows)
    files = {}
    for name, section in comparison["per_reference"].items():
        if section["per_game"]:
            fig = curve_reference_figure(section, colors(variants))
            files[f"curve_reference/{name}"] = save(fig, out / f"reference_{name}.png")[0].name
    return files


def curve_markdown(comparison: Mapping[str, Any], files: Mapping[str, str]) -> list[str]:
    """The "Published learning curves" section of ``report.md``."""
    from rlkit.analysis.report_markdown import format_number, image_link

    lines = ["## Published learning curves", "",
             "Mean return of the **training** episodes per iteration (rlkit: `charts/episodic_return` of the episodes "
             "that ended in it), as the published curves plot it; only iterations a run completed. rlkit: mean ± "
             "sample std over seeds, then each seed's value. ≈: a published point read approximately ("
             + "; ".join(APPROXIMATE_READS.values()) + "). Ratio: rlkit's mean over the published mean of the agent "
             "the variant is named after (– where none is).", ""]
    for name, section in comparison["per_reference"].items():
        lines += [f"### {section['label']} (`{name}`)", "", f"Source: {section['source']}.", ""]
        notes = [f"- Left out: {x['task']} ({x['runs']} run(s)): {x['reason']}" for x in section["left_out"]]
        notes += [f"- **Warning: not the published protocol**: {p['variant']}/{p['game']}/seed{p['seed']}: "
                  + "; ".join(p["issues"]) for p in section["protocol"]]
        lines += notes + ([""] if notes else [])
        if not section["per_game"]:
            lines += ["No run of this study matches this reference: nothing to compare.", ""]
            continue
        agents = section["agents"]
        lines += ["| game | variant | iteration (agent steps) | rlkit runs | rlkit mean ± std | rlkit per seed | "
                  + " | ".join(f"published {a}" for a in agents) + " | ratio |",
                  "| --- | --- | --- | --- | --- | --- |" + " --- |" * (len(agents) + 1)]
        for row in section["per_game"]:
            for it in row["iterations"]:
                spread = "" if it["std"] is None else f" ± {format_number(it['std'])}"
                seeds = ", ".join(f"s{seed}: {format_number(v)}" for seed, v in it["per_seed"].items())
                steps = f"{it['iteration']} ({it['end_step'] - section['iteration_steps']:,}-{it['end_step']:,})"
                ratio = "–" if it["ratio"] is None else f"{it['ratio']:.2f}"
                lines.append(f"| {row['game']} | {row['variant']} | {steps} | {it['runs']} | "
                             f"{format_number(it['mean'])}{spread} | {seeds} | "
                             + " | ".join(_published(it["published"][a]) for a in agents) + f" | {ratio} |")
        lines.append("")
        if f"curve_reference/{name}" in files:
            lines += [image_link(f"{section['label']} curves", files[f"curve_reference/{name}"]), ""]
    return lines
