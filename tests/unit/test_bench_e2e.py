"""The end-to-end benchmarks' pure helpers (benchmarks/e2e_common.py): timing window, bound, extrapolation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import e2e_common
import e2e_sb3
import run_all
from e2e_common import StepClock, per_million, round_order, sync_bound, worker_main


def test_step_clock_times_only_the_steps_from_learning_start_to_the_last():
    clock = StepClock(start=100)
    for step, now in ((50, 1.0), (99, 2.0), (100, 10.0), (150, 20.0), (200, 30.0)):
        clock.tick(step, now=now)
    assert clock.steps == 100 and clock.sps == pytest.approx(100 / 20.0)


def test_step_clock_with_vector_steps_starts_at_the_first_count_past_the_start():
    clock = StepClock(start=10)
    for step, now in ((8, 0.0), (16, 1.0), (24, 3.0)):  # 8 envs: counts jump over 10
        clock.tick(step, now=now)
    assert clock.steps == 8 and clock.sps == pytest.approx(4.0)


def test_step_clock_without_steps_after_the_start_refuses_a_speed():
    clock = StepClock(start=100)
    clock.tick(100, now=1.0)
    with pytest.raises(RuntimeError, match="no steps timed"):
        _ = clock.sps


def test_step_clock_ignores_ticks_past_the_last_step():
    clock = StepClock(start=10, stop=30)
    for step, now in ((10, 0.0), (20, 1.0), (30, 2.0), (40, 50.0)):  # 40: a step drained after the run
        clock.tick(step, now=now)
    assert clock.steps == 20 and clock.sps == pytest.approx(10.0)


@pytest.mark.parametrize("mode", ["sync", "pipelined", "thread"])
def test_rlkit_clock_counts_each_agent_step_once(mode):
    """The clock ticks at the end of every env step, synchronous, pipelined (two groups, whose step
    in flight at the end is drained after the run and not counted) or with the learner in a thread."""
    extra = {"sync": [], "pipelined": ["train.pipeline=true", "train.pipeline_groups=2"],
             "thread": e2e_sb3.RLKIT_SIDES["rlkit-thread"]}[mode]
    base = ["env=atari", "env.game=pong", "agent=dqn", "env.num_envs=2", "replay.capacity=1000",
            "agent.batch_size=8", "train.update_every_steps=4", *extra]
    overrides = e2e_common.rlkit_run_overrides(base, learning_starts=40, steps_after=60, threads=1)
    clock, trainer = e2e_common.run_rlkit_timed(overrides, 40)
    assert clock.step0 == 40 and clock.step1 == 100 and clock.steps == 60
    assert trainer.parts.agent.updates > 0


def test_every_rlkit_side_of_the_sb3_comparison_is_a_valid_config():
    from rlkit.config import compose_config
    from rlkit.validation import validate_config

    params = {"optim": "rmsprop_tf", "replay": 1000, "epsilon": 0.01}
    for side, extra in e2e_sb3.RLKIT_SIDES.items():
        assert validate_config(compose_config([*e2e_sb3.rlkit_base(params), *extra])) == [], side
    assert set(e2e_sb3.WORKERS) >= {f"{side}-speed" for side in e2e_sb3.RLKIT_SIDES}


def test_sync_bound_adds_the_learner_once_per_update_and_gives_shares():
    times = {"env": 0.001, "act": 0.001, "insert": 0.0, "sample": 0.002, "update": 0.006, "priorities": 0.0}
    bound, shares = sync_bound(times, updates_per_step=0.25)  # 2 ms + 8 ms / 4 = 4 ms per agent step
    assert bound == pytest.approx(250.0)
    assert shares["update"] == pytest.approx(0.375) and shares["env"] == pytest.approx(0.25)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_per_million_extrapolates_linearly():
    assert per_million(7_056_000, 1_000) == pytest.approx(7.056e9)
    with pytest.raises(ValueError):
        per_million(1.0, 0)


def test_round_order_alternates():
    assert round_order(("a", "b"), 0) == ["a", "b"] and round_order(("a", "b"), 1) == ["b", "a"]


def test_worker_main_runs_the_named_worker_and_prints_one_result_line(capsys):
    assert not worker_main({}, ["--steps", "3"])
    assert worker_main({"double": lambda p: {"x": 2 * p["x"]}}, ["--worker", "double", json.dumps({"x": 21})])
    line = capsys.readouterr().out.strip()
    assert line.startswith(e2e_common.RESULT_PREFIX) and json.loads(line[len(e2e_common.RESULT_PREFIX):]) == {"x": 42}


def test_without_sb3_the_comparison_says_so_and_exits_with_the_skipped_status(monkeypatch, capsys):
    monkeypatch.setattr(e2e_sb3, "sb3_installed", lambda: False)
    assert e2e_sb3.main(["--steps", "10"]) == e2e_common.SKIPPED_EXIT == 77
    assert "stable-baselines3 is not installed" in capsys.readouterr().out
    assert run_all.status_word(77).startswith("skipped") and run_all.status_word(1) == "failed"


def test_the_prepared_gpu_script_parses_and_uses_flags_the_benchmarks_have():
    """benchmarks/gpu_session.sh runs only where a GPU is lent: check here that it is valid bash and
    that every benchmark flag it passes exists (flags drift when a benchmark changes)."""
    import re
    import subprocess

    script = REPO / "benchmarks" / "gpu_session.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    calls = re.findall(r'"\$PY" (benchmarks/\w+\.py)((?:\\\n|[^\n])*)', text)  # with continued lines
    assert {name for name, _ in calls} == {"benchmarks/learner_atari.py", "benchmarks/learner_compile.py",
                                           "benchmarks/learner_knobs.py", "benchmarks/e2e_sb3.py"}
    for name, args in calls:
        helptext = subprocess.run([sys.executable, str(REPO / name), "--help"], capture_output=True, text=True,
                                  check=True).stdout
        for flag in re.findall(r"(--[a-z][a-z-]*)", args):
            assert flag in helptext, (name, flag)
