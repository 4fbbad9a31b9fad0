"""Runs that survive: exact resume, real signals, kill -9, NaN losses, incompatible checkpoints, rlkit-eval."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rlkit.training import checkpoint as ckpt
from tests.helpers import QUIET, cli_env, compose, read_jsonl, run_cli, train_in_process

VOLATILE = {"time", "charts/SPS", "eval/wall_time_s"}  # clocks
EXACT = ["train.steps=4000", "checkpoint.every=2000", "checkpoint.keep_last=0", "checkpoint.keep_after_finish=true",
         "eval.every_steps=1000",
         "eval.episodes=2", "train.learning_starts_steps=500", "train.log_every_steps=500", "device=cpu"]


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_jsonl(run / "metrics.jsonl")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def _interrupted_copy(src: Path, dst: Path, step: int) -> None:
    """What a run killed right after checkpoint ``step`` leaves: that checkpoint, config and a metrics
    file that already holds records past it."""
    name = f"step_{step:012d}"
    shutil.copytree(src / "checkpoints" / name, dst / "checkpoints" / name)
    shutil.copy(src / "metrics.jsonl", dst / "metrics.jsonl")
    shutil.copy(src / "config.yaml", dst / "config.yaml")


@pytest.mark.parametrize("agent", ["dqn", "rainbow", "m_iqn"])
def test_resume_is_bit_identical_on_cpu(tmp_path, agent):
    """2N uninterrupted vs stopped at N and resumed: same weights, same metrics from N on. Rainbow covers
    PER priorities, noisy-net noise, C51 and 3-step windows; M-IQN the agent's generator of quantile
    fractions and the Munchausen target; episodes in flight at N continue exactly."""
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    if agent == "m_iqn":  # fewer fractions per pass: the test is about state, not accuracy
        agent = "m_iqn iqn.num_samples_online=4 iqn.num_samples_target=4 iqn.num_samples_act=4"
    agent, *extra = agent.split()
    a = train_in_process(full, f"agent={agent}", *extra, *EXACT)
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(full / "checkpoints" / "step_000000002000").path)
    assert state["episodes"]["lengths"].max() > 0  # an episode was in flight at the checkpoint
    assert state["env"] is not None and len(state["replay"]["storage"]["n_step"]["length"]) == 1
    _interrupted_copy(full, resumed, 2000)
    b = train_in_process(resumed, f"agent={agent}", *extra, *EXACT)
    assert b["resumed_from_step"] == 2000 and a["resumed_from_step"] is None
    wa, wb = _weights(full), _weights(resumed)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert _metrics(full) == _metrics(resumed)  # records past N were dropped, then logged again identically
    assert [r["step"] for r in read_jsonl(resumed / "metrics.jsonl")] == [r["step"] for r in read_jsonl(full / "metrics.jsonl")]
    assert a["final_eval_returns"] == b["final_eval_returns"]
    final_a = ckpt.load_agent_state(full / "checkpoints" / "step_000000004000")
    final_b = ckpt.load_agent_state(resumed / "checkpoints" / "step_000000004000")
    state_a, state_b = final_a["optimizer"]["state"], final_b["optimizer"]["state"]
    assert state_a.keys() == state_b.keys() and state_a
    for key, slots in state_a.items():  # optimiser moments too, tensor by tensor
        assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(state_b[key][name])) for name, v in slots.items())
    assert torch.equal(final_a["target"][next(iter(final_a["target"]))], final_b["target"][next(iter(final_b["target"]))])


def test_finished_run_is_not_trained_again(tmp_path):
    first = train_in_process(tmp_path, "agent=dqn", "train.steps=600", "train.learning_starts_steps=200",
                             "eval.every_steps=0", "eval.episodes=1")
    lines = (tmp_path / "metrics.jsonl").read_text()
    again = train_in_process(tmp_path, "agent=dqn", "train.steps=600", "train.learning_starts_steps=200",
                             "eval.every_steps=0", "eval.episodes=1")
    assert again["steps"] == first["steps"] == 600
    assert (tmp_path / "metrics.jsonl").read_text() == lines


def test_incompatible_checkpoint_fails_naming_the_mismatch(tmp_path):
    train_in_process(tmp_path, "agent=dqn", "train.steps=600", "checkpoint.every=300", "eval.every_steps=0",
                     "eval.episodes=1", "train.learning_starts_steps=200", "checkpoint.keep_after_finish=true")
    (tmp_path / "summary.json").unlink()  # as if the run had been killed
    with pytest.raises(ckpt.CheckpointError) as err:
        train_in_process(tmp_path, "agent=dqn", "train.steps=900", "network.hidden_sizes=[32]")
    assert "network: checkpoint has" in str(err.value) and "[32]" in str(err.value)
    with pytest.raises(ckpt.CheckpointError) as err:
        train_in_process(tmp_path, "agent=dqn", "env=acrobot", "train.steps=900")
    assert "num_actions: checkpoint has 2, this run has 3" in str(err.value)
    assert "env: checkpoint has 'CartPole-v1', this run has 'Acrobot-v1'" in str(err.value)
    ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path).path)  # untouched


def test_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    import rlkit.components  # noqa: F401
    from rlkit.agents.dqn import NonFiniteLossError
    from rlkit.training.loop import Trainer

    cfg = compose(*QUIET, "torch_threads=1", "agent=dqn", "train.steps=3000", "checkpoint.every=1000",
                  "eval.every_steps=0", "train.learning_starts_steps=200", "train.update_every_steps=4",
                  "train.updates_per_cycle=1")
    trainer = Trainer(cfg, tmp_path)
    loss, calls = trainer.parts.agent.loss, {"n": 0}

    def poisoned(nets, batch):
        out = loss(nets, batch)
        calls["n"] += 1
        if calls["n"] > 400:  # update 401 happens at step ~1800, after the checkpoint at 1000
            out.loss = out.loss * float("nan")  # only the loss: the guard reads it, not a metric
        return out

    trainer.parts.agent.loss = poisoned
    with pytest.raises(NonFiniteLossError) as err:
        trainer.train()
    message = str(err.value)
    assert "at agent step 1" in message and "step_000000001000" in message and "not touched" in message
    assert all(torch.isfinite(p).all() for p in trainer.parts.agent.online.parameters())  # NaN never applied
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest.step == 1000
    weights = ckpt.load_agent_state(latest.path)["online"]
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "summary.json").exists()


def test_atari_resume_restarts_envs_and_keeps_the_replay(tmp_path):
    """ale-py's simulators cannot be saved: the resumed run starts new episodes on the restored replay."""
    atari = ["env=atari", "env.game=pong", "agent=dqn", "env.num_envs=2", "replay.capacity=2000",
             "train.learning_starts_steps=100", "agent.batch_size=8", "train.update_every_steps=50",
             "eval.every_steps=0", "eval.episodes=1", "eval.max_steps=50", "train.log_every_steps=100",
             "agent.target_update_every_steps=100"]
    first, second = tmp_path / "first", tmp_path / "second"
    atari.append("checkpoint.keep_after_finish=true")
    train_in_process(first, *atari, "train.steps=400", "checkpoint.every=200")
    saved = ckpt.load_checkpoint(first / "checkpoints" / "step_000000000200")
    assert saved["env"] is None and saved["obs"].shape == (2, 4, 84, 84)
    _interrupted_copy(first, second, 200)
    summary = train_in_process(second, *atari, "train.steps=400", "checkpoint.every=200")
    assert summary["resumed_from_step"] == 200 and summary["steps"] == 400
    resumed = ckpt.load_checkpoint(second / "checkpoints" / "step_000000000400")
    count_200 = saved["replay"]["storage"]["count"]
    # the restored 200-step replay was kept and grown: each env wrote ~100 more rows
    assert np.all(resumed["replay"]["storage"]["count"] >= count_200 + 100)
    np.testing.assert_array_equal(resumed["replay"]["storage"]["frames"][:10], saved["replay"]["storage"]["frames"][:10])


# ------------------------------------------------------------------------ real processes
TRAIN = ["agent=dqn", "train.steps=40000", "eval.every_steps=0", "eval.episodes=1", "torch_threads=1",
         "checkpoint.every=1000000", "logger.console.enabled=false"]


def _spawn(run: Path, *args: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "rlkit-train"
    return subprocess.Popen([str(exe), f"hydra.run.dir={run}", *args], cwd=run.parent, env=cli_env(run.parent),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_progress(run: Path, proc: subprocess.Popen, lines: int = 2) -> None:
    deadline = time.time() + 120
    metrics = run / "metrics.jsonl"
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= lines):
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1], ids=lambda s: s.name)
def test_signal_checkpoints_and_exits_with_documented_status(tmp_path, sig):
    run = tmp_path / "run"
    proc = _spawn(run, *TRAIN)
    _wait_for_progress(run, proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, out
    assert f"stopped by {sig.name}" in out
    latest = ckpt.latest_checkpoint(run)
    assert latest is not None and latest.step > 0
    state = ckpt.load_checkpoint(latest.path)
    assert state["loop"]["step"] == latest.step
    records = read_jsonl(run / "metrics.jsonl")  # closed cleanly: every line is whole JSON
    assert records and all(r["step"] <= latest.step for r in records)
    assert not (run / "summary.json").exists()

    if sig is signal.SIGTERM:  # resume=<run dir> continues it with its own config plus overrides, from anywhere
        result = run_cli("rlkit-train", [f"resume={run}", f"train.steps={latest.step + 2000}",
                                         f"hydra.run.dir={tmp_path / 'elsewhere'}"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["resumed_from_step"] >= latest.step and summary["steps"] == latest.step + 2000
        steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl") if "charts/updates" in r]
        assert steps == sorted(set(steps))  # no step logged twice across the resume


def test_sigusr2_checkpoints_then_calls_the_handler_installed_before(tmp_path):
    """submitit's SIGUSR2 handler (requeue) must run, and only once the checkpoint is on disk."""
    import threading

    import rlkit.components  # noqa: F401
    from rlkit.training.loop import Preempted, Trainer

    seen = []

    def requeue(signum, _frame):
        latest = ckpt.latest_checkpoint(tmp_path)
        seen.append((signum, latest.step if latest else None))

    previous = signal.signal(signal.SIGUSR2, requeue)
    try:
        cfg = compose(*QUIET, "torch_threads=1", "agent=dqn", "train.steps=100000", "eval.every_steps=0",
                      "checkpoint.every=1000000", "train.learning_starts_steps=200")
        trainer = Trainer(cfg, tmp_path)
        timer = threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGUSR2))
        timer.start()
        with pytest.raises(Preempted) as err:
            trainer.train()
        timer.join()
        assert err.value.exit_code == 128 + signal.SIGUSR2
        assert seen == [(signal.SIGUSR2, trainer.state.step)] and trainer.state.step > 0
        assert signal.getsignal(signal.SIGUSR2) is requeue  # rlkit's handler was removed again
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_same_command_after_kill_9_resumes_from_the_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = ["agent=dqn", "train.steps=6000", "eval.every_steps=0", "eval.episodes=1", "torch_threads=1",
            "checkpoint.every=500", "checkpoint.keep_last=2", "checkpoint.keep_after_finish=true",
            "logger.console.enabled=false"]
    proc = _spawn(run, *args)
    deadline = time.time() + 120
    while ckpt.latest_checkpoint(run) is None or ckpt.latest_checkpoint(run).step < 1500:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no handler runs, a save may be half done
    proc.wait(timeout=30)
    killed_at = ckpt.latest_checkpoint(run).step
    proc = _spawn(run, *args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert f"resuming from {run / 'checkpoints'}" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_step"] == killed_at and summary["steps"] == 6000
    assert not any(p.name.startswith(".tmp_") for p in (run / "checkpoints").iterdir())
    assert len(ckpt.list_checkpoints(run)) == 2


def test_resume_rejects_group_changes_and_missing_runs(tmp_path):
    train_in_process(tmp_path / "run", "agent=dqn", "train.steps=400", "checkpoint.every=200",
                     "eval.every_steps=0", "eval.episodes=1", "train.learning_starts_steps=100")
    result = run_cli("rlkit-train", [f"resume={tmp_path / 'run'}", "network/head=dueling",
                                     f"hydra.run.dir={tmp_path / 'x'}"], cwd=tmp_path)
    assert result.returncode == 2 and "keeps the parts it was built with" in result.stderr
    result = run_cli("rlkit-train", [f"resume={tmp_path / 'nothing'}", f"hydra.run.dir={tmp_path / 'y'}"],
                     cwd=tmp_path)
    assert result.returncode == 2 and f"{tmp_path / 'nothing'} does not exist" in result.stderr
    assert not (tmp_path / "y").exists()  # rejected before Hydra made the run dir


# ------------------------------------------------------------------------------ rlkit-eval
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("evalrun") / "run"
    train_in_process(run, "agent=dqn", "train.steps=1500", "checkpoint.every=1000", "eval.every_steps=0",
                     "eval.episodes=2", "train.learning_starts_steps=300", "checkpoint.keep_after_finish=true")
    return run


def test_rlkit_eval_reports_and_writes_json(finished_run, tmp_path):
    out = tmp_path / "result.json"
    result = run_cli("rlkit-eval", [str(finished_run), "episodes=3", "epsilon=0.0", f"out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["source"] == "model.pt" and data["episodes"] == 3 and len(data["returns"]) == 3
    assert data["mean"] == pytest.approx(np.mean(data["returns"])) and data["min"] == min(data["returns"])
    assert data["hns"] is None and f"mean {data['mean']:.2f}" in result.stdout
    run_cli("rlkit-eval", [str(finished_run), "episodes=3", "epsilon=0.0", f"out={tmp_path / 'b.json'}"],
                    cwd=tmp_path)
    assert json.loads((tmp_path / "b.json").read_text())["returns"] == data["returns"]  # seeded


def test_rlkit_eval_on_a_checkpoint_with_video(finished_run, tmp_path):
    checkpoint = finished_run / "checkpoints" / "step_000000001000"
    result = run_cli("rlkit-eval", [str(checkpoint), "episodes=1", "video=true", "epsilon=0.5"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted((finished_run / "eval").glob("*step_000000001000.*"))
    assert [p.suffix for p in written] == [".json", ".mp4"] and written[1].stat().st_size > 1000
    assert json.loads(written[0].read_text())["epsilon"] == 0.5


def test_rlkit_eval_refuses_pickles_and_bad_arguments(finished_run, tmp_path):
    from tests.unit.test_checkpoint import _Payload

    run = tmp_path / "evil"
    shutil.copytree(finished_run, run)
    marker = tmp_path / "pwned"
    torch.save(_Payload(marker), run / "model.pt")
    result = run_cli("rlkit-eval", [str(run)], cwd=tmp_path)
    assert result.returncode == 2 and "refusing to load" in result.stderr and not marker.exists()
    result = run_cli("rlkit-eval", ["--help"], cwd=tmp_path)
    assert result.returncode == 0 and "usage: rlkit-eval" in result.stdout
    result = run_cli("rlkit-eval", [str(finished_run), "episodes=zero"], cwd=tmp_path)
    assert result.returncode == 2 and "episodes='zero': expected int" in result.stderr
    torch.save({"torso.layers.0.weight": torch.zeros(3, 3)}, run / "model.pt")
    result = run_cli("rlkit-eval", [str(run)], cwd=tmp_path)
    assert result.returncode == 2 and "do not fit the network" in result.stderr


def test_rlkit_eval_on_an_atari_run_reports_the_human_normalised_score(tmp_path):
    from rlkit.analysis.hns import human_normalized_score

    run = tmp_path / "pong"
    train_in_process(run, "env=atari", "env.game=pong", "agent=dqn", "env.max_episode_frames=400",
                     "replay.capacity=1000", "train.steps=120", "train.learning_starts_steps=60",
                     "agent.batch_size=8", "eval.every_steps=0", "eval.episodes=1")
    out = tmp_path / "pong.json"
    result = run_cli("rlkit-eval", [str(run), "episodes=2", f"out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["game"] == "pong" and data["episodes"] == 2
    assert data["hns"] == pytest.approx(human_normalized_score("pong", data["mean"]))
    assert "human-normalised" in result.stdout
