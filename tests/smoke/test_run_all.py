"""benchmarks/run_all.py writes BENCHMARKS.md: machine, versions, and each figure under its command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run_all(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "benchmarks/run_all.py", "--quick", "--out", str(out), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    return proc, out.read_text() if out.exists() else ""


def test_writes_each_figure_under_the_command_that_printed_it(tmp_path):
    proc, text = _run_all(tmp_path, "--only", "replay_per", "replay_memory")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert text.startswith("# Benchmarks") and "Quick mode" in text
    assert "- machine: " in text and "cores available" in text and "torch " in text and "- date: " in text
    assert "Command: `python benchmarks/replay_per.py --capacity 4096 --repeats 20 --rounds 1`" in text
    assert "sampler sample 512" in text and "speed-up" in text  # replay_per's own table
    assert "vs cpprb" in text or "cpprb not installed" in text  # the cpprb comparison needs the bench extra
    assert "## replay_memory" in text and "resident when full" in text
    assert "A.L.E:" not in text and "failed" not in text


def test_a_failing_benchmark_is_recorded_and_fails_the_run(tmp_path):
    proc, text = _run_all(tmp_path, "--only", "replay_per", "--timeout", "0.01")
    assert proc.returncode == 1
    assert "## replay_per — **failed (exit 124)**" in text and "timed out after" in text


def test_optim_fused_prints_both_sides_and_their_ratios(tmp_path):
    proc, text = _run_all(tmp_path, "--only", "optim_fused")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Command: `python benchmarks/optim_fused.py --presets minatar_dqn --updates 2 --repeats 1`" in text
    row = next(line for line in text.splitlines() if line.startswith("minatar_dqn"))
    params, step_fused, step_loop, step_ratio, upd_fused, upd_loop, upd_ratio = row.split()[1:]
    assert params == "10,198"  # one 3x3 conv (4 -> 16 channels), then 1600 -> 6: MinAtar Breakout's DQN
    assert abs(float(step_ratio) - float(step_fused) / float(step_loop)) <= 0.006  # printed to 2 decimals
    assert abs(float(upd_ratio) - float(upd_fused) / float(upd_loop)) <= 0.006
