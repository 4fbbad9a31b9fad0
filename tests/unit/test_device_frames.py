"""replay.on_device (rlkit/replay/device_frames.py): stacks gathered from a device copy of the frames
equal the host path's bit for bit, through wrap-around, episode ends, life losses, both paddings, RGB
stacks and a checkpoint round trip; only new rows are uploaded; a run with it equals one without."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.replay import FrameStackStorage, PrioritizedSampler, ReplayBuffer, UniformSampler
from rlkit.validation import validate_config
from tests.helpers import compose, train_in_process
from tests.unit.test_frame_storage import FRAME, GAMMA, StackEnv, render
from tests.unit.test_pipeline import _metrics, _weights_equal


def _buffer(*, capacity: int, num_envs: int, stack: int, padding: str, channels: int = 1,
            prioritized: bool = False) -> ReplayBuffer:
    storage = FrameStackStorage(capacity=capacity, obs_shape=(stack * channels, *FRAME), num_envs=num_envs,
                                n_step=3, gamma=GAMMA, padding=padding, frame_channels=channels)
    sampler = (PrioritizedSampler(capacity=capacity, seed=5) if prioritized
               else UniformSampler(capacity=capacity, seed=5))
    return ReplayBuffer(storage=storage, sampler=sampler)


def _rgb(frames: np.ndarray) -> np.ndarray:  # [..., S, H, W] -> [..., S * 3, H, W]
    out = np.stack([frames, frames // 2, frames // 3], axis=-3)
    return out.reshape(*frames.shape[:-3], -1, *frames.shape[-2:])


def _same_batch(a, b) -> None:
    for name in ("obs", "actions", "rewards", "next_obs", "discounts", "weights"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.device == y.device, name
        assert torch.equal(x.cpu(), y.cpu()), name
    np.testing.assert_array_equal(a.indices, b.indices)


def _check_against_host(device: str, *, padding: str, channels: int, prioritized: bool) -> None:
    num_envs, stack, capacity = 3, 4, 90  # 30 rows per env: the rings wrap around many times
    host = _buffer(capacity=capacity, num_envs=num_envs, stack=stack, padding=padding, channels=channels,
                   prioritized=prioritized)
    dev = _buffer(capacity=capacity, num_envs=num_envs, stack=stack, padding=padding, channels=channels,
                  prioritized=prioritized)
    dev.keep_frames_on(device)
    env, rng = StackEnv(num_envs=num_envs, stack=stack, padding=padding, seed=4), np.random.default_rng(6)
    pad = _rgb if channels == 3 else (lambda frames: frames)
    uploaded = last_written = 0
    for t in range(400):
        obs, nxt, terminated, truncated = env.step()
        actions, rewards = rng.integers(0, 6, size=num_envs), rng.normal(size=num_envs)
        for replay in (host, dev):
            replay.add_step(pad(render(obs)), actions, rewards, pad(render(nxt)), terminated, truncated)
        if t % 7 == 6 and len(host) >= 8:
            written = int(dev.storage.rows_written.sum())
            a, b = host.sample(8, device), dev.sample(8, device)
            _same_batch(a, b)
            assert b.obs.device.type == torch.device(device).type
            if t > 100:  # only the rows written since the last sample went up
                assert dev.device_frames.uploaded_rows - uploaded == written - last_written
            uploaded, last_written = dev.device_frames.uploaded_rows, written
            if prioritized:
                priorities = rng.random(8) + 0.1
                host.update_priorities(a.indices, priorities)
                dev.update_priorities(b.indices, priorities)


@pytest.mark.parametrize(("padding", "channels", "prioritized"),
                         [("zeros", 1, False), ("repeat_first", 1, True), ("zeros", 3, True)])
def test_device_gathered_batches_equal_the_host_path(padding, channels, prioritized):
    _check_against_host("cpu", padding=padding, channels=channels, prioritized=prioritized)


@pytest.mark.gpu
def test_cuda_gathered_batches_equal_the_host_path():
    _check_against_host("cuda", padding="zeros", channels=1, prioritized=True)


def test_a_loaded_state_is_uploaded_whole():
    """After load_state_dict (a resume) the device copy holds the loaded frames, not the old ones."""
    source = _buffer(capacity=60, num_envs=2, stack=4, padding="zeros")
    target = _buffer(capacity=60, num_envs=2, stack=4, padding="zeros")
    target.keep_frames_on("cpu")
    env, rng = StackEnv(num_envs=2, stack=4, padding="zeros", seed=1), np.random.default_rng(2)
    other = StackEnv(num_envs=2, stack=4, padding="zeros", seed=9)
    for _ in range(100):
        for replay, e in ((source, env), (target, other)):
            obs, nxt, terminated, truncated = e.step()
            replay.add_step(render(obs), rng.integers(0, 6, 2), rng.normal(size=2), render(nxt), terminated,
                            truncated)
    target.sample(4, "cpu")  # the device copy now holds the other env's frames
    target.load_state_dict({"storage": source.storage.state_dict(), "sampler": source.sampler.state_dict()})
    np.testing.assert_array_equal(target.device_frames.frames.numpy()[: 0], source.storage._frames_flat[:0])
    target.sample(1, "cpu")
    np.testing.assert_array_equal(target.device_frames.frames.numpy(), source.storage._frames_flat)
    fresh = _buffer(capacity=60, num_envs=2, stack=4, padding="zeros")
    fresh.load_state_dict({"storage": source.storage.state_dict(), "sampler": source.sampler.state_dict()})
    fresh.sample(1, "cpu")  # the same draws as the target's so far
    _same_batch(fresh.sample(16, "cpu"), target.sample(16, "cpu"))


def test_a_device_copy_made_for_a_filled_store_holds_its_frames():
    host = _buffer(capacity=60, num_envs=2, stack=4, padding="zeros")
    env, rng = StackEnv(num_envs=2, stack=4, padding="zeros", seed=3), np.random.default_rng(4)
    for _ in range(50):
        obs, nxt, terminated, truncated = env.step()
        host.add_step(render(obs), rng.integers(0, 6, 2), rng.normal(size=2), render(nxt), terminated, truncated)
    twin = _buffer(capacity=60, num_envs=2, stack=4, padding="zeros")
    twin.load_state_dict({"storage": host.storage.state_dict(), "sampler": host.sampler.state_dict()})
    host.keep_frames_on("cpu")  # after the frames were written
    _same_batch(twin.sample(16, "cpu"), host.sample(16, "cpu"))


def test_on_device_needs_the_frame_store():
    from rlkit.replay import CircularStorage

    replay = ReplayBuffer(storage=CircularStorage(capacity=10, obs_shape=(4,), obs_dtype="float32", num_envs=1,
                                                  n_step=1, gamma=0.99), sampler=UniformSampler(capacity=10))
    with pytest.raises(TypeError, match="needs replay/storage=frame_stack"):
        replay.keep_frames_on("cpu")
    problems = {p.key: p for p in validate_config(compose("replay.on_device=true"), None)}  # CartPole: circular
    assert "frame_stack" in problems["replay.on_device"].message
    problems = {p.key: p for p in validate_config(compose("replay.on_device=maybe"), None)}
    assert "must be true or false" in problems["replay.on_device"].message


def test_an_atari_run_with_frames_on_the_device_equals_one_without(tmp_path):
    run = ["env=atari", "env.game=pong", "agent=rainbow", "debug=tiny", "device=cpu"]
    host = train_in_process(tmp_path / "host", *run)
    dev = train_in_process(tmp_path / "dev", *run, "replay.on_device=true")
    assert _weights_equal(tmp_path / "host", tmp_path / "dev")
    assert _metrics(tmp_path / "host") == _metrics(tmp_path / "dev")
    assert host["final_eval_returns"] == dev["final_eval_returns"]
