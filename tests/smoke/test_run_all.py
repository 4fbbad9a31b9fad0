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


def _ratio_consistent(ratio: str, on: str, off: str) -> bool:
    """The printed ratio (2 decimals) is on / off of the unrounded rates, which are printed to 1 decimal."""
    r, a, b = float(ratio), float(on), float(off)
    return abs(r - a / b) <= 0.005 + (a / b) * (0.05 / a + 0.05 / b) + 1e-9


def test_learner_knobs_prints_both_sides_of_each_knob_and_their_ratios(tmp_path):
    proc, text = _run_all(tmp_path, "--only", "learner_knobs")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Command: `python benchmarks/learner_knobs.py --presets der --updates 2 --repeats 1`" in text
    fused, channels_last, bf16 = (line for line in text.splitlines() if line.startswith("der "))
    params, step_on, step_off, step_ratio, upd_on, upd_off, upd_ratio = fused.split()[1:]
    assert params == "828,842"  # DER's two 5x5/5 convolutions and its dueling C51 head with noisy layers
    assert _ratio_consistent(step_ratio, step_on, step_off)
    assert _ratio_consistent(upd_ratio, upd_on, upd_off)
    for line in (channels_last, bf16):
        params, upd_on, upd_off, upd_ratio = line.split()[1:]
        assert params == "828,842" and _ratio_consistent(upd_ratio, upd_on, upd_off)
    assert (text.index("fused (optim.fused): on (true) vs off (false)")
            < text.index("channels_last (network.torso.channels_last): on (true) vs off (false)")
            < text.index("bf16 (network.torso.compute_dtype): on (bfloat16) vs off (float32)"))
