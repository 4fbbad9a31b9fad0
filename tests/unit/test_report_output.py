"""Report output: few-runs warnings, readable plots (sizes, legends, SVG), learning curves clipped to the return range."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlkit.analysis.report import ReportOptions, learning_curves, return_ranges, write_report
from rlkit.analysis.runs import load_runs
from tests.helpers import run_cli
from tests.smoke.test_report import STEPS, run_config, write_run


def _cartpole(root: Path, variant: str, finals: list[float], curve: dict[int, float] | None = None,
              **env: object) -> None:
    for seed, final in enumerate(finals):
        config = run_config(variant, "CartPole-v1", seed)
        config["env"].update(env)
        write_run(root / variant / f"seed{seed}", config, final,
                  curve=None if curve is None else {s: v - seed for s, v in curve.items()})


# ----------------------------------------------------------------------------- few runs
def test_fewer_than_five_runs_are_flagged_at_the_top_and_per_variant(tmp_path):
    _cartpole(tmp_path / "runs", "five", [400.0, 420.0, 440.0, 460.0, 480.0])
    _cartpole(tmp_path / "runs", "three", [100.0, 200.0, 300.0])
    report = write_report([tmp_path / "runs"], tmp_path / "out", ReportOptions(reps=20))
    assert report["few_runs"] == {"min_runs": 5, "groups": [{"task": "CartPole-v1", "variant": "three", "runs": 3}]}
    md = (tmp_path / "out" / "report.md").read_text()
    top = md.split("## Per-task scores")[0]
    assert ("**Warning: too few runs.** 1 of 2 task/variant groups have fewer than 5 runs (fewest: 3)" in top
            and "unreliable" in top and "Agarwal et al. (2021) recommend more runs" in top)
    assert "| CartPole-v1 | three | 3 ⚠ |" in md and "| CartPole-v1 | five | 5 |" in md
    assert "| three | 3 ⚠ |" in md and "| five | 5 |" in md  # aggregates table
    assert "**Warning**: fewer than 5 runs per task for three: their intervals below are unreliable" in md
    assert "fewer than 5 runs: three (3)" in md  # learning curves

    _cartpole(tmp_path / "enough", "five", [400.0, 420.0, 440.0, 460.0, 480.0])
    _cartpole(tmp_path / "enough", "other", [1.0, 2.0, 3.0, 4.0, 5.0])
    report = write_report([tmp_path / "enough"], tmp_path / "out2", ReportOptions(reps=20))
    assert report["few_runs"]["groups"] == []
    md = (tmp_path / "out2" / "report.md").read_text()
    assert "Warning" not in md and "warning" not in md and "⚠ |" not in md


# ----------------------------------------------------------------------------- plots
def _curves(variants: list[str], tasks: list[str]) -> dict:
    steps = list(range(0, 10_001, 1000))
    return {t: {v: {"steps": steps, "mean": [i * 10.0] * len(steps), "lower": [i * 10.0 - 5] * len(steps),
                    "upper": [i * 10.0 + 5] * len(steps), "runs": 3} for i, v in enumerate(variants)} for t in tasks}


def _extents(fig) -> tuple[list, list]:
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    return [ax.get_window_extent(renderer) for ax in fig.axes], [lg.get_window_extent(renderer) for lg in fig.legends]


LONG = [f"rainbow[loss.name=td,network.head.name=dueling,optim.lr=0.00{i}]" for i in range(1, 9)]


@pytest.mark.parametrize("tasks", [["CartPole-v1"], ["CartPole-v1", "Acrobot-v1", "pong", "breakout"]])
def test_learning_curve_legend_sits_outside_every_panel(tasks):
    from rlkit.analysis.plots import DPI, colors, learning_curves_figure

    fig = learning_curves_figure(_curves(LONG, tasks), colors(LONG), confidence=0.95)
    axes, legends = _extents(fig)
    assert len(axes) == len(tasks) and len(legends) == 1
    for box in axes:
        assert not box.overlaps(legends[0])
        assert box.width >= 4.0 * DPI and box.height >= 2.5 * DPI  # the legend does not squash the panels
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"{v} (3 runs)" for v in LONG]
    assert all(ax.get_xlabel() == "agent steps" and ax.get_ylabel() == "mean eval return" for ax in fig.axes)


def test_interval_and_profile_plots_keep_panels_large_with_many_long_names():
    from rlkit.analysis.plots import DPI, colors, intervals_figure, profiles_figure

    rows = {v: {m: {"point": 1.0, "lower": 0.5, "upper": 1.5} for m in ("median", "iqm", "mean", "gap")} for v in LONG}
    fig = intervals_figure(rows, ["median", "iqm", "mean", "gap"], colors(LONG), titles={}, xlabel="eval return",
                           suptitle="aggregates")
    axes, _ = _extents(fig)
    assert len(axes) == 4 and all(box.width >= 4.5 * DPI and box.height >= 3.0 * DPI for box in axes)
    profile = {"taus": [0.0, 1.0, 2.0], "variants": {v: {"profile": [1.0, 0.5, 0.0], "lower": [1.0, 0.2, 0.0],
                                                          "upper": [1.0, 0.8, 0.0]} for v in LONG}}
    fig = profiles_figure(profile, colors(LONG), xlabel="eval return", title="profile")
    axes, legends = _extents(fig)
    assert not axes[0].overlaps(legends[0]) and axes[0].width >= 4.5 * DPI and axes[0].height >= 2.5 * DPI


# ----------------------------------------------------------------------------- return range
def test_return_range_from_gymnasium_registry_or_config(tmp_path):
    cases = [
        ("CartPole-v1", None, {}, (0.0, 500.0), "gymnasium max_episode_steps"),
        ("CartPole-v1", 200, {}, (0.0, 200.0), "env.max_episode_steps"),
        ("CartPole-v0", None, {}, (0.0, 200.0), "gymnasium"),
        ("Acrobot-v1", None, {}, (-500.0, 0.0), "reward in [-1, 0] per step"),
        ("MountainCar-v0", None, {}, (-200.0, 0.0), "at most 200 steps"),
        ("LunarLander-v3", None, {}, None, "per-step reward bounds not known"),
        ("CartPole-v1", None, {"sutton_barto_reward": True}, None, "env.kwargs"),
        ("NoSuchEnv-v0", None, {}, None, "not a registered gymnasium id"),
    ]
    for i, (env_id, cap, kwargs, expected, why) in enumerate(cases):
        config = run_config("full", env_id, 0)
        config["env"].update(max_episode_steps=cap, kwargs=kwargs)
        write_run(tmp_path / f"run{i}", config, 1.0)
        [run] = load_runs([tmp_path / f"run{i}"]).runs
        bounds, source = run.return_range()
        assert bounds == expected and why in source, (env_id, cap, kwargs, source)
    pong = write_run(tmp_path / "pong", run_config("full", "pong", 0), 1.0)
    assert load_runs([pong]).runs[0].return_range() == (None, "unknown: Atari game pong")


def test_learning_curve_band_beyond_the_return_range_is_clipped(tmp_path):
    # evaluation returns near CartPole-v1's 500-step cap, one above it: the unclipped band passes 500
    _cartpole(tmp_path / "runs", "full", [520.0, 519.0, 518.0], curve={1000: 300.0, 2000: 490.0, STEPS: 520.0})
    runs = load_runs([tmp_path / "runs"]).runs
    options = ReportOptions(reps=200)
    raw = learning_curves(runs, options)["CartPole-v1"]["full"]
    ranges = return_ranges(runs, {})
    assert ranges["CartPole-v1"]["range"] == [0.0, 500.0]
    clipped = learning_curves(runs, options, ranges)["CartPole-v1"]["full"]
    assert max(raw["upper"]) > 500.0 and raw["mean"][-1] == pytest.approx(519.0)
    np.testing.assert_allclose(clipped["upper"], np.minimum(raw["upper"], 500.0))
    np.testing.assert_allclose(clipped["lower"], np.minimum(raw["lower"], 500.0))
    np.testing.assert_allclose(clipped["mean"], np.minimum(raw["mean"], 500.0))
    assert clipped["mean"][0] == raw["mean"][0] == pytest.approx(299.0)  # within range: unchanged

    report = write_report([tmp_path / "runs"], tmp_path / "out", options)
    assert max(report["learning_curves"]["CartPole-v1"]["full"]["upper"]) == 500.0
    assert "- CartPole-v1: [0, 500] (CartPole-v1: reward in [0, 1] per step, at most 500 steps" in (
        tmp_path / "out" / "report.md").read_text()


def test_return_range_flag(tmp_path):
    _cartpole(tmp_path / "runs", "full", [300.0, 400.0, 500.0])
    for flag in ("--return-range=0,450", "--return-range=CartPole-v1=0,450"):
        out = tmp_path / flag.replace("=", "_").replace(",", "_")
        proc = run_cli("rlkit-report", [str(tmp_path / "runs"), "--out", str(out), "--reps", "50", flag],
                       cwd=tmp_path, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads((out / "report.json").read_text())
        assert report["return_ranges"]["CartPole-v1"] == {"range": [0.0, 450.0], "source": "--return-range"}
        curve = report["learning_curves"]["CartPole-v1"]["full"]
        assert max(curve["upper"]) == 450.0 and curve["mean"][-1] == 400.0  # mean of 300, 400, 500 is in range
    for flag, message in (("--return-range=5,1", "needs finite LO < HI"), ("--return-range=abc", "[TASK=]LO,HI"),
                          ("--return-range=Pong=0,1", "unknown task(s) Pong; tasks: CartPole-v1")):
        proc = run_cli("rlkit-report", [str(tmp_path / "runs"), "--out", str(tmp_path / "bad"), flag],
                       cwd=tmp_path, timeout=180)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
