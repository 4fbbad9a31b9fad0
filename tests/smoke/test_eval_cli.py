"""`rlkit-eval`'s command line: plain, fast help and argument errors, clear messages, the threads option."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlkit.cli import evaluate
from tests.helpers import train_in_process

HEAVY = ("torch", "numpy", "omegaconf", "rlkit.training")


def test_help_and_argument_errors_are_plain_and_import_nothing_heavy(tmp_path):
    """--help and bad arguments answer without importing torch & co (seconds of start-up)."""
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from rlkit.cli import evaluate
        calls = [["--help"], ["{tmp_path}", "threads=0"], ["{tmp_path}", "threads=x"],
                 ["{tmp_path / 'missing'}"], ["{tmp_path}", "episodes=zero"], []]
        results = []
        for args in calls:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = evaluate.main(args)
            results.append([code, out.getvalue(), err.getvalue()])
        results.append([m for m in {HEAVY!r} if m in sys.modules])
        print(json.dumps(results))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    *results, heavy = json.loads(proc.stdout)
    assert heavy == []
    (code, out, err), *errors = results
    assert code == 0 and err == "" and out.startswith("usage: rlkit-eval PATH")
    assert "``" not in out and "options:" in out
    for option in evaluate.OPTIONS:
        assert f"\n  {option}=" in out, option
    assert "threads=N|auto" in out and "-h, --help" in out
    assert [code for code, _, _ in errors] == [2] * len(errors)
    assert all(out == "" for _, out, _ in errors)
    assert "threads='0': expected 'auto' or an integer >= 1" in errors[0][2]
    assert "threads='x': expected 'auto' or an integer >= 1" in errors[1][2]
    assert errors[2][2] == f"rlkit-eval: {tmp_path / 'missing'} does not exist\n"
    assert "episodes='zero': expected int" in errors[3][2]
    assert "missing PATH" in errors[4][2] and "usage: rlkit-eval" in errors[4][2]


def test_help_of_the_console_script(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "rlkit-eval"), "--help"], check=False,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: rlkit-eval") and "``" not in proc.stdout


def test_run_dir_without_weights_names_both_kinds(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints" / "step_000000000100").mkdir(parents=True)  # incomplete: no state.json
    (run / "config.yaml").write_text("seed: 0\n")
    assert evaluate.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rlkit-eval: {run} has no model.pt")
    assert "no model.pt (written when a run finishes)" in err
    assert "no checkpoint (checkpoints/step_N, written every checkpoint.every steps)" in err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("evalcli") / "run"
    train_in_process(run, "agent=dqn", "train.steps=200", "train.learning_starts_steps=100", "eval.every_steps=0",
                     "eval.episodes=1")
    return run


def test_threads_option_sets_torch_intra_op_threads(tiny_run, tmp_path, monkeypatch):
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    out = tmp_path / "one.json"
    assert evaluate.main([str(tiny_run), "threads=1", "episodes=1", "max_steps=50", f"out={out}"]) == 0
    assert calls == [1]
    assert json.loads(out.read_text())["source"] == "model.pt"


def test_threads_default_to_auto_sized_by_the_acting_batch(tiny_run, tmp_path, monkeypatch):
    """auto: the thread count follows the work of one acting forward pass (CartPole's MLP: 1 thread)."""
    import torch

    from rlkit.utils import threads

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr(threads, "thread_budget", lambda **_: 8)  # as if on 8 free cores
    assert evaluate.main([str(tiny_run), "episodes=1", "max_steps=50", f"out={tmp_path / 'auto.json'}"]) == 0
    assert calls == [1]
