"""What a new user meets in the first hour: messages, exit codes, nothing written for a rejected
command, a finished run left alone, resume commands that work, a clean live progress display."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import QUIET, cli_env, read_jsonl, run_cli, train_in_process

TINY = ["train.steps=600", "train.learning_starts_steps=200", "eval.every_steps=300", "eval.episodes=2",
        "train.log_every_steps=100", "torch_threads=1"]


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------- bad input: caught before anything is written
@pytest.mark.parametrize(("args", "expected"), [
    (["train.step=100"], "did you mean train.steps?"),
    (["+train.step=100"], "did you mean train.steps?"),
    (["trian.steps=5"], "did you mean train.steps?"),
    (["+agent.n_stp=3"], "did you mean agent.n_step?"),
    (["agent=rainbw"], "did you mean agent=rainbow?"),
    (["network/head=duelling"], "did you mean network/head=dueling?"),
    (["c51.v_min=200"], "c51.v_min"),
    (["logger.wandb.mode=online"], "no wandb API key"),
    (["-m", "agent=dqn,rainbw", "seed=0,1"], "did you mean agent=rainbow?"),
    (["-m", "seed=0,1", "eval.episode=3"], "did you mean eval.episodes?"),
])
def test_a_rejected_command_exits_2_names_the_fix_and_writes_nothing(tmp_path, args, expected):
    env = cli_env(tmp_path)
    for key in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "NETRC"):
        env.pop(key, None)
    env["WANDB_MODE"] = "offline"
    before = set(tmp_path.rglob("*"))
    proc = run_cli("rlkit-train", args, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "Fix:" in proc.stderr
    assert set(tmp_path.rglob("*")) == before  # no outputs/, no .hydra/, no log


def test_a_multirun_job_rejected_for_its_combination_leaves_no_directory(tmp_path):
    """Each swept value is checked up front; a problem only a combination has (here dqn's plain head with
    the categorical loss) stops that job before training, and Hydra's files for it are removed again."""
    sweep = tmp_path / "sweep"
    proc = run_cli("rlkit-train", ["-m", "agent=dqn,c51", "loss=td,categorical", f"hydra.sweep.dir={sweep}",
                                   *TINY, *QUIET], cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "loss 'categorical' needs a head with categorical outputs" in proc.stderr
    runs = {str(p.parent.relative_to(sweep)) for p in sweep.rglob("summary.json")}
    assert runs == {"default/CartPole-v1/dqn,loss=td/seed0"}  # job 0 (dqn, td) ran; job 1 (dqn, categorical) not
    files = {str(p.relative_to(sweep)) for p in sweep.rglob("*") if p.is_file()}
    assert not any("loss=categorical" in f for f in files), files  # nothing of the rejected job is left


def test_rlkit_train_help_lists_groups_presets_and_commands(tmp_path):
    proc = run_cli("rlkit-train", ["--help"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Five useful commands" in out and out.count("\n  rlkit-train") >= 5
    conf = Path(__file__).resolve().parents[2] / "conf"
    for preset in sorted(p.stem for p in (conf / "agent").glob("*.yaml")):
        assert preset in out.split("== Config groups")[0], f"preset {preset} missing from the presets section"
    for group in ("agent:", "env:", "experiment:", "network/head:", "replay/sampler:", "target:", "loss:"):
        assert group in out
    assert "powered by Hydra" not in out and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ stop and continue as promised
def test_ctrl_c_prints_the_command_that_continues_and_that_command_does(tmp_path):
    """The default run dir is timestamped: running the same command again would start over, so the
    message names ``rlkit-train resume=<dir>``; that command finishes the run from its checkpoint."""
    exe = Path(sys.executable).parent / "rlkit-train"
    args = ["agent=dqn", "train.steps=30000", "eval.every_steps=0", "eval.episodes=1", "torch_threads=1",
            "train.stop_at_eval_return=null", *QUIET]
    proc = subprocess.Popen([str(exe), *args], cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(next(iter(tmp_path.glob("outputs/*/*/metrics.jsonl")), Path("/dev/null")).read_text().splitlines()) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (run,) = tmp_path.glob("outputs/*/*")
    command = f"rlkit-train resume={run.relative_to(tmp_path)}"
    assert f"Continue with: {command}" in err, err
    stopped_at = json.loads((run / "checkpoints").iterdir().__next__().joinpath("state.json").read_text())["step"]
    resumed = run_cli("rlkit-train", [command.split()[1], "train.steps=" + str(stopped_at + 1000)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_step"] == stopped_at and summary["steps"] == stopped_at + 1000
    assert len(list(tmp_path.glob("outputs/*/*"))) == 1  # continued in place: no second run dir


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    run = tmp_path / "run"
    train_in_process(run, *TINY, "checkpoint.every=200")
    assert not (run / "checkpoints").exists() and (run / "model.pt").is_file()  # deleted at the end by default
    before = _tree(tmp_path)
    for args in ([f"resume={run}"], [f"resume={run}", "train.steps=300"]):
        proc = run_cli("rlkit-train", args, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "holds a finished run" in proc.stderr and "nothing was changed" in proc.stderr
        assert "checkpoints were deleted" in proc.stderr
        assert _tree(tmp_path) == before  # summary.json, metrics.jsonl, .hydra: untouched; no new run dir
    proc = run_cli("rlkit-train", [f"resume={run}", "train.steps=1200"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "cannot train" in proc.stderr and "deleted" in proc.stderr
    assert _tree(tmp_path) == before


def test_a_finished_run_that_kept_its_checkpoints_can_be_extended(tmp_path):
    run = tmp_path / "run"
    first = train_in_process(run, *TINY, "checkpoint.every=300", "checkpoint.keep_after_finish=true")
    proc = run_cli("rlkit-train", [f"resume={run}"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and f"rlkit-train resume={run} train.steps=1200" in proc.stderr
    proc = run_cli("rlkit-train", [f"resume={run}", "train.steps=900"], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert first["steps"] == 600 and summary["steps"] == 900 and summary["resumed_from_step"] == 600
    assert summary["sps"] > 0 and summary["wall_time_s"] > first["wall_time_s"]  # whole-run clocks
    evals = [r["step"] for r in read_jsonl(run / "metrics.jsonl") if "final/episodic_return" in r]
    assert evals == [600, 900]  # each finish's final evaluation, at its own step; nothing logged twice
    steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl") if "charts/updates" in r]
    assert steps == sorted(set(steps))


def test_console_says_how_the_run_ended_at_the_checkpoint_step(tmp_path):
    exe = Path(sys.executable).parent / "rlkit-train"
    run = tmp_path / "run"
    args = [f"hydra.run.dir={run}", "agent=dqn", "train.steps=30000", "eval.every_steps=0", "torch_threads=1",
            "train.stop_at_eval_return=null", "logger.tensorboard.enabled=false", "logger.wandb.enabled=false",
            "logger.console.log_interval_s=0"]
    proc = subprocess.Popen([str(exe), *args], cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() or len((run / "metrics.jsonl").read_text().splitlines()) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    final = [line for line in out.splitlines() if "CartPole-v1_dqn_s0 " in line][-1]
    step = int(next((run / "checkpoints").iterdir()).name.removeprefix("step_"))
    assert "stopped (by SIGTERM; checkpoint" in final and "finished" not in final
    assert f"step {step:,}/30,000" in final, (final, step)


def test_solved_at_step_uses_the_envs_registered_threshold(tmp_path, monkeypatch):
    """Without a stop threshold, CartPole-v1's reward_threshold (475) still marks the first solving eval."""
    import rlkit.training.evaluator as evaluator_mod

    real = evaluator_mod.evaluate
    calls = {"n": 0}

    def scripted(*args, **kwargs):
        result = real(*args, **kwargs)
        calls["n"] += 1
        result["mean"] = {1: 100.0, 2: 480.0}.get(calls["n"], 300.0)
        return result

    monkeypatch.setattr(evaluator_mod, "evaluate", scripted)
    summary = train_in_process(tmp_path, *TINY, "eval.every_steps=200", "train.stop_at_eval_return=null")
    assert summary["solved_threshold"] == 475.0 and summary["solved_at_step"] == 400
    assert not summary["stopped_early"] and summary["steps"] == 600


def test_a_solving_evaluation_is_confirmed_on_the_final_episodes_before_the_run_stops(tmp_path, monkeypatch):
    """10 episodes at >= 475 are not "solved": the run checks on eval.final_episodes new episodes first,
    trains on if they fall short, and stops (that check being its final evaluation) once they do not."""
    import rlkit.training.evaluator as evaluator_mod

    real = evaluator_mod.evaluate
    script = iter([100.0, 480.0, 460.0, 490.0, 481.0])  # eval 200, eval 400 + check, eval 600 + check
    episodes = []

    def scripted(*args, **kwargs):
        result = real(*args, **kwargs)
        episodes.append(kwargs["episodes"])
        result["mean"] = next(script)
        return result

    monkeypatch.setattr(evaluator_mod, "evaluate", scripted)
    summary = train_in_process(tmp_path, *TINY, "train.steps=2000", "eval.every_steps=200",
                               "train.stop_at_eval_return=475", "eval.final_episodes=3")
    assert episodes == [2, 2, 3, 2, 3]
    assert summary["stopped_early"] and summary["steps"] == 600 and summary["eval/episodic_return"] == 481.0
    assert summary["solved_at_step"] == 400 and summary["final_eval"]["episodes"] == 3
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["confirm/episodic_return"]) for r in rows if "confirm/episodic_return" in r] == [(400, 460.0)]
    assert [(r["step"], r["final/episodic_return"]) for r in rows if "final/episodic_return" in r] == [(600, 481.0)]
    curve = [(r["step"], r["eval/episodic_return"]) for r in rows if "eval/episodic_return" in r]
    assert curve == [(200, 100.0), (400, 480.0), (600, 490.0), (600, 481.0)]


def test_sps_counts_training_time_only(tmp_path, monkeypatch):
    """Evaluations do not lower charts/SPS: they are timed on their own (eval/wall_time_s, eval_time_s)."""
    import rlkit.training.evaluator as evaluator_mod

    real = evaluator_mod.evaluate

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluator_mod, "evaluate", slow)
    summary = train_in_process(tmp_path, *TINY, "eval.every_steps=100", "train.stop_at_eval_return=null")
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    evals = [r["eval/wall_time_s"] for r in rows if "eval/wall_time_s" in r]
    assert len(evals) == 7 and min(evals) >= 0.5  # 6 periodic + the final one
    assert summary["eval_time_s"] == pytest.approx(sum(evals))
    assert summary["wall_time_s"] >= summary["train_time_s"] + summary["eval_time_s"] - 1e-6
    assert summary["sps"] == pytest.approx(600 / summary["train_time_s"])
    steps = [0] + [r["step"] for r in rows if "charts/SPS" in r]
    sps = [r["charts/SPS"] for r in rows if "charts/SPS" in r]
    logged_train_s = sum((b - a) / s for a, b, s in zip(steps, steps[1:], sps))
    assert logged_train_s <= summary["train_time_s"] + 1e-6 < summary["wall_time_s"] - 3.0


def test_default_cartpole_evaluation_is_batched_and_stops_when_solved():
    from tests.helpers import compose

    cfg = compose()
    assert cfg.env.id == "CartPole-v1" and cfg.variant == "rainbow"
    assert cfg.eval.num_envs == cfg.eval.episodes == 10  # one batched forward pass steps all 10 episodes
    assert cfg.train.stop_at_eval_return == 475 and cfg.eval.final_episodes == 100
    assert cfg.checkpoint.keep_after_finish is False


def test_batched_evaluation_acts_on_every_env_at_once():
    import numpy as np

    import rlkit.components  # noqa: F401
    from rlkit import registry
    from rlkit.training.evaluate import evaluate

    class Recorder:
        def __init__(self) -> None:
            self.batches: list[int] = []

        def act_eval(self, obs, epsilon):
            self.batches.append(len(obs))
            return np.zeros(len(obs), dtype=np.int64)

    maker = registry.build("env", {"name": "gym", "id": "CartPole-v1"})
    envs = maker.make_eval(num_envs=10, seed=0)
    recorder = Recorder()
    try:
        result = evaluate(recorder, envs, episodes=10, epsilon=0.0, seed=0)
    finally:
        envs.close()
    assert result["episodes"] == 10 and set(recorder.batches) == {10}
    assert len(recorder.batches) == max(int(x) for x in result["returns"])  # steps = the longest episode


def test_finished_run_deletes_its_checkpoints_unless_asked_to_keep_them(tmp_path):
    train_in_process(tmp_path / "a", *TINY, "checkpoint.every=200")
    assert not (tmp_path / "a" / "checkpoints").exists() and (tmp_path / "a" / "model.pt").is_file()
    train_in_process(tmp_path / "b", *TINY, "checkpoint.every=200", "checkpoint.keep_after_finish=true")
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == [
        "step_000000000400", "step_000000000600"]


# ------------------------------------------------------------------------------- the live progress display
def _screen(data: bytes, columns: int, lines: int) -> list[str]:
    pyte = pytest.importorskip("pyte")
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    stream.feed(data)
    return [line.rstrip() for line in screen.display]


def test_log_lines_print_above_the_live_progress_bar(tmp_path):
    """In a real terminal (a pty), checkpoint and summary log lines appear whole on their own lines,
    and the bar's lines are not glued to them."""
    exe = Path(sys.executable).parent / "rlkit-train"
    run = tmp_path / "run"
    args = [f"hydra.run.dir={run}", "agent=dqn", "train.steps=3000", "train.learning_starts_steps=200",
            "checkpoint.every=500", "eval.every_steps=0", "torch_threads=1", "train.stop_at_eval_return=null",
            "logger.tensorboard.enabled=false", "logger.wandb.enabled=false", "logger.console.refresh_per_second=20"]
    columns, rows = 160, 200
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = cli_env(tmp_path)
    env.update({"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)})
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([str(exe), *args], cwd=tmp_path, env=env, stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True)
    os.close(slave)
    data = b""
    deadline = time.time() + 240
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 0, data[-3000:]
    screen = [line for line in _screen(data, columns, rows) if line]
    checkpoints = [line for line in screen if "INFO checkpoint at step" in line]
    assert len(checkpoints) == 6, screen  # steps 500 ... 3000, each on its own line
    for line in checkpoints:
        assert line.endswith("s)") and "ETA" not in line and "━" not in line, line
    assert any(line.endswith("INFO run dir: " + str(run)) for line in screen), screen
    bars = [line for line in screen if "steps (" in line or "SPS" in line]
    assert bars and all("INFO" not in line for line in bars), bars
    final = [line for line in screen if "CartPole-v1_dqn_s0 finished:" in line]
    assert len(final) == 1 and "step 3,000/3,000" in final[0]
