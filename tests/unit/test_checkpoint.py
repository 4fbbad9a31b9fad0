"""Checkpoint files: round trip, atomic writes under kill -9, safe loading, env snapshots."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.envs.state import load_vector_env_state, vector_env_state
from rlkit.training import checkpoint as ckpt
from rlkit.utils.files import truncate_metrics


def _state(step: int) -> dict:
    return {
        "torch": {"agent": {"online": {"w": torch.full((3, 2), float(step))}, "opt": {0: {"step": torch.tensor(1.0)}}}},
        "loop": {"step": step, "best": -math.inf, "next": math.inf, "solved": None},
        "replay": {"frames": np.full((50, 8, 8), step % 256, dtype=np.uint8), "count": np.arange(4, dtype=np.int64)},
        "rng": {"numpy": ("MT19937", np.arange(5, dtype=np.uint32), 3, 0, 0.0), "torch": torch.get_rng_state()},
        "names": ["a", "b"],
        "big": 2**100 + 7,
    }


def test_round_trip_keeps_every_value_and_type(tmp_path):
    state = _state(7)
    path = ckpt.save_checkpoint(tmp_path, 7, state)
    assert path.name == "step_000000000007"
    back = ckpt.load_checkpoint(path)
    assert torch.equal(back["torch"]["agent"]["online"]["w"], state["torch"]["agent"]["online"]["w"])
    assert back["torch"]["agent"]["opt"][0]["step"].item() == 1.0  # int keys survive inside torch state
    assert back["loop"] == {"step": 7, "best": -math.inf, "next": math.inf, "solved": None}
    frames = back["replay"]["frames"]
    assert isinstance(frames, np.memmap) and not frames.flags.writeable  # read-only map, no copy in memory
    np.testing.assert_array_equal(frames, state["replay"]["frames"])
    assert isinstance(back["rng"]["numpy"], tuple) and back["rng"]["numpy"][0] == "MT19937"
    np.testing.assert_array_equal(back["rng"]["numpy"][1], np.arange(5))
    assert torch.equal(back["rng"]["torch"], state["rng"]["torch"])
    assert back["names"] == ["a", "b"] and back["big"] == 2**100 + 7


def test_keep_last_prunes_oldest_and_latest_ignores_partial(tmp_path):
    for step in (10, 20, 30):
        ckpt.save_checkpoint(tmp_path, step, _state(step), keep_last=2)
    assert [c.step for c in ckpt.list_checkpoints(tmp_path)] == [20, 30]
    partial = tmp_path / "checkpoints" / ".tmp_step_000000000040_123"
    (partial / "arrays").mkdir(parents=True)
    (partial / "state.json").write_text("{")
    assert ckpt.latest_checkpoint(tmp_path).step == 30
    assert ckpt.find_checkpoint(tmp_path).step == 30
    ckpt.remove_partial(tmp_path)
    assert not partial.exists()


def test_missing_or_damaged_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint in"):
        ckpt.find_checkpoint(tmp_path)
    path = ckpt.save_checkpoint(tmp_path, 1, _state(1))
    (path / "state.json").write_text('{"format": 1, "step": 1, "state": {"x": ')
    with pytest.raises(ckpt.CheckpointError, match="damaged"):
        ckpt.load_checkpoint(path)


class _Payload:
    """Unpickling this would create ``marker``: the attack a crafted checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_payload_in_tensors_file_is_refused_and_not_run(tmp_path):
    path = ckpt.save_checkpoint(tmp_path / "run", 5, _state(5))
    marker = tmp_path / "pwned"
    torch.save({"/torch": {"agent": _Payload(marker)}}, path / "tensors.pt")
    with pytest.raises(ckpt.CheckpointError, match="refusing to load .*tensors.pt.*weights_only"):
        ckpt.load_checkpoint(path)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load"):
        ckpt.load_agent_state(path)
    assert not marker.exists()


def test_object_array_in_npy_is_refused_and_not_run(tmp_path):
    path = ckpt.save_checkpoint(tmp_path / "run", 5, _state(5))
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.save(path / "arrays" / "replay.frames.npy", payload, allow_pickle=True)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load .*replay.frames.npy"):
        ckpt.load_checkpoint(path)
    assert not marker.exists()


def test_saving_an_object_array_fails_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        ckpt.save_checkpoint(tmp_path, 1, {"bad": np.array([object()], dtype=object)})
    assert ckpt.list_checkpoints(tmp_path) == []
    assert list((tmp_path / "checkpoints").iterdir()) == []  # the temporary dir was removed


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from rlkit.training import checkpoint as ckpt

    run, mode = Path(sys.argv[1]), sys.argv[2]

    def state(step):
        return {"loop": {"step": step}, "replay": {"frames": np.full((4_000_000,), step % 251, dtype=np.uint8)}}

    ckpt.save_checkpoint(run, 1, state(1))
    if mode == "stall":  # block inside the second save, after part of its arrays hit the disk
        real_save = np.save
        def slow_save(f, arr, **kw):
            f.write(b"partial")
            f.flush()
            (run / "writing").touch()
            time.sleep(60)
        np.save = slow_save
        ckpt.save_checkpoint(run, 2, state(2))
    else:  # save over and over until killed
        (run / "writing").touch()
        step = 2
        while True:
            ckpt.save_checkpoint(run, step, state(step), keep_last=2)
            step += 1
    """
)


def _start_writer(tmp_path: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(run), mode])
    deadline = time.time() + 60
    while not (run / "writing").exists():
        assert proc.poll() is None, "writer died"
        assert time.time() < deadline, "writer never started"
        time.sleep(0.01)
    return proc


def _assert_consistent(run: Path) -> int:
    latest = ckpt.latest_checkpoint(run)
    state = ckpt.load_checkpoint(latest.path)
    assert state["loop"]["step"] == latest.step
    frames = state["replay"]["frames"]
    assert frames.shape == (4_000_000,) and frames[0] == frames[-1] == latest.step % 251
    return latest.step


def test_kill_9_in_the_middle_of_a_write_leaves_the_previous_checkpoint(tmp_path):
    proc = _start_writer(tmp_path, "stall")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run = tmp_path / "run"
    assert any(p.name.startswith(".tmp_") for p in (run / "checkpoints").iterdir())  # really killed mid-write
    assert _assert_consistent(run) == 1
    ckpt.save_checkpoint(run, 3, {"loop": {"step": 3}, "replay": {"frames": np.full(4_000_000, 3, np.uint8)}})
    assert not any(p.name.startswith(".tmp_") for p in (run / "checkpoints").iterdir())
    assert _assert_consistent(run) == 3


def test_kill_9_at_random_moments_never_leaves_a_broken_latest(tmp_path):
    proc = _start_writer(tmp_path, "loop")
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    try:
        seen = []
        for _ in range(5):
            time.sleep(float(rng.uniform(0.02, 0.2)))
            proc.send_signal(signal.SIGSTOP)  # freeze the writer wherever it is, inspect, go on
            seen.append(_assert_consistent(run))
            proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        seen.append(_assert_consistent(run))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen == sorted(seen) and seen[-1] >= 1


def test_incompatible_checkpoint_names_every_mismatch(tmp_path):
    saved = {"num_actions": 2, "network": {"hidden_sizes": [128]}, "env": "CartPole-v1"}
    current = {"num_actions": 3, "network": {"hidden_sizes": [128]}, "env": "Acrobot-v1"}
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.check_compatible(saved, current, source=tmp_path)
    text = str(err.value)
    assert "num_actions: checkpoint has 2, this run has 3" in text
    assert "env: checkpoint has 'CartPole-v1', this run has 'Acrobot-v1'" in text
    assert "network" not in text
    ckpt.check_compatible(saved, dict(saved), source=tmp_path)


def test_truncate_metrics_drops_records_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "x": s}) for s in (100, 200, 300, 400)]
    path.write_text("\n".join(lines) + '\n{"step": 50')  # a half-written last line
    assert truncate_metrics(path, 200) == 3
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [100, 200]
    assert truncate_metrics(path, 200) == 0
    assert truncate_metrics(tmp_path / "absent.jsonl", 5) == 0


def _rollout(envs, actions):
    out = []
    for a in actions:
        obs, rew, term, trunc, _ = envs.step(a)
        out.append((obs.copy(), rew.copy(), term.copy(), trunc.copy()))
    return out


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_env_snapshot_continues_episodes_exactly(env_id):
    def make():
        return gym.make_vec(env_id, num_envs=3, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})

    rng = np.random.default_rng(1)
    n = 2 if env_id == "CartPole-v1" else 3
    actions = [rng.integers(n, size=3) for _ in range(120)]
    envs = make()
    envs.reset(seed=[1, 2, 3])
    _rollout(envs, actions[:40])
    snapshot = vector_env_state(envs)
    expected = _rollout(envs, actions[40:])  # runs through episode ends and resets
    fresh = make()
    fresh.reset(seed=[9, 9, 9])
    load_vector_env_state(fresh, snapshot)
    got = _rollout(fresh, actions[40:])
    for (o1, r1, t1, u1), (o2, r2, t2, u2) in zip(expected, got):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(t1 | u1, t2 | u2)
    if env_id == "CartPole-v1":  # random CartPole episodes end (and reset) inside the window
        assert any(t.any() for _, _, t, _ in expected)


def test_env_snapshot_is_none_for_envs_it_cannot_capture():
    class Remote:
        num_envs = 1
        unwrapped = object()

    assert vector_env_state(Remote()) is None
    with pytest.raises(TypeError, match="SyncVectorEnv"):
        load_vector_env_state(Remote(), {"num_envs": 1, "envs": []})


def test_checkpoint_files_are_plain_formats(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 3, _state(3))
    assert sorted(p.name for p in path.iterdir()) == ["arrays", "state.json", "tensors.pt"]
    json.loads((path / "state.json").read_text())  # strict JSON
    for npy in (path / "arrays").iterdir():
        np.load(npy, allow_pickle=False)
    torch.load(path / "tensors.pt", weights_only=True)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path / "state.json").st_mode & 0o777 == 0o666 & ~umask  # readable like any other file


def test_checkpoint_compatibility_ignores_arguments_at_their_defaults(tmp_path):
    """A part that gains an argument whose default keeps the old behaviour (the dueling head's
    torso_grad_scale, shared_hidden, init) still accepts checkpoints written before it existed."""
    import rlkit.components  # noqa: F401
    from rlkit import registry
    from rlkit.training.loop import Trainer
    from tests.helpers import QUIET, compose

    output = {"name": "categorical", "num_atoms": 51, "v_min": 0.0, "v_max": 100.0}
    head = {"name": "dueling", "hidden_sizes": [128], "output": output}
    assert registry.without_defaults("network/head", {**head, "torso_grad_scale": 1.0}) == head
    assert registry.without_defaults("network/output", output) == {"name": "categorical", "v_min": 0.0, "v_max": 100.0}
    assert registry.without_defaults("network/head", {**head, "torso_grad_scale": 0.5})["torso_grad_scale"] == 0.5
    old = Trainer(compose(*QUIET, "torch_threads=1"), tmp_path / "a").compat()["network"]
    assert "torso_grad_scale" not in old["head"] and old["head"]["name"] == "dueling"
    assert old["head"]["output"] == {"name": "categorical", "v_min": 0.0, "v_max": 100.0}  # num_atoms 51: default
    scaled = Trainer(compose(*QUIET, "torch_threads=1", "dueling.torso_grad_scale=0.5"), tmp_path / "b").compat()
    assert scaled["network"]["head"]["torso_grad_scale"] == 0.5
