"""FrameStackStorage against a reference log of what a frame-stacking vector env produced.

A synthetic env emits stacks of frames whose pixels encode unique frame ids, with random episode
lengths, terminations, truncations and life-loss terminals (the game, and the stack, go on), for
several envs at once and a capacity that wraps around many times. Every sampled obs / next_obs
stack must equal what the env emitted, n-step returns and discounts must match a reference
computed from the raw trajectory, and ``valid`` / ``added`` / ``removed`` must agree with a
brute-force validity computation. A last test replays real ale-py Pong.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from rlkit import registry
from rlkit.replay import FrameStackStorage, PrioritizedSampler, ReplayBuffer, UniformSampler

FRAME = (3, 4)  # H, W of the synthetic frames
GAMMA = 0.99


def render(ids: np.ndarray) -> np.ndarray:
    """Frames for frame ids ``[..., S]`` -> uint8 ``[..., S, H, W]``; id 0 is an all-zero frame."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.empty((*ids.shape, FRAME[0] * FRAME[1]), dtype=np.uint8)
    out[...] = (1 + ids % 251)[..., None]
    out[..., 0], out[..., 1], out[..., 2] = ids & 255, (ids >> 8) & 255, (ids >> 16) & 255
    out[ids == 0] = 0
    return out.reshape(*ids.shape, *FRAME)


def decode(frames: np.ndarray) -> np.ndarray:
    """Frame ids of frames ``[..., H, W]`` (0 for an all-zero frame)."""
    flat = frames.reshape(*frames.shape[:-2], -1).astype(np.int64)
    return flat[..., 0] + (flat[..., 1] << 8) + (flat[..., 2] << 16)


@dataclass
class Step:
    obs: np.ndarray  # [S] frame ids of the observation acted on
    action: int
    reward: float
    terminated: bool
    truncated: bool
    next_obs: np.ndarray  # [S] frame ids of the real next observation (final obs at an end)


class StackEnv:
    """E envs emitting frame-id stacks (newest last), padded at reset like ale-py or gymnasium.

    Episodes end with probability ``p_end`` per step, as a termination or a truncation; a fraction
    ``p_life`` of terminations are life losses: the learner sees ``terminated`` but no reset
    happens, so the next observation is the final one and the stack goes on.
    """

    def __init__(self, *, num_envs: int, stack: int, padding: str, seed: int, p_end: float = 0.1,
                 p_life: float = 0.3) -> None:
        self.num_envs, self.stack, self.padding = num_envs, stack, padding
        self.p_end, self.p_life = p_end, p_life
        self.rng = np.random.default_rng(seed)
        self.next_id = 1
        self.ids = np.zeros((num_envs, stack), dtype=np.int64)
        for env in range(num_envs):
            self._reset(env)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _reset(self, env: int) -> None:
        first = self._new_id()
        self.ids[env] = first if self.padding == "repeat_first" else 0
        self.ids[env, -1] = first

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(obs ids [E, S], real next ids [E, S], terminated [E], truncated [E]); advances the envs."""
        obs = self.ids.copy()
        for env in range(self.num_envs):
            self.ids[env, :-1] = self.ids[env, 1:]
            self.ids[env, -1] = self._new_id()
        nxt = self.ids.copy()
        end = self.rng.random(self.num_envs) < self.p_end
        terminated = end & (self.rng.random(self.num_envs) < 0.6)
        truncated = end & ~terminated
        life_loss = terminated & (self.rng.random(self.num_envs) < self.p_life)
        for env in np.flatnonzero(end & ~life_loss):
            self._reset(env)
        return obs, nxt, terminated, truncated


class Reference:
    """The raw trajectory per env and what the storage should return for each transition."""

    def __init__(self, num_envs: int, n_step: int) -> None:
        self.log: list[list[Step]] = [[] for _ in range(num_envs)]
        self.by_frame: dict[int, tuple[int, int]] = {}  # newest obs frame id -> (env, step)
        self.n_step = n_step

    def record(self, env: int, step: Step) -> None:
        self.by_frame[int(step.obs[-1])] = (env, len(self.log[env]))
        self.log[env].append(step)

    def target(self, env: int, t: int) -> tuple[int, float, float, np.ndarray] | None:
        """(m, n-step return, discount, bootstrap ids) of transition (env, t), None while incomplete."""
        steps, total = self.log[env], 0.0
        for k in range(self.n_step):
            if t + k >= len(steps):
                return None
            step = steps[t + k]
            total += GAMMA**k * step.reward
            if step.terminated or step.truncated:
                return k + 1, total, 0.0 if step.terminated else GAMMA ** (k + 1), step.next_obs
        if t + self.n_step >= len(steps):  # the bootstrap obs arrives with the next add_step
            return None
        return self.n_step, total, GAMMA**self.n_step, steps[t + self.n_step - 1].next_obs

    def brute_force_valid(self, storage: FrameStackStorage) -> np.ndarray:
        """Sampleable slots from first principles: a transition is stored at the slot, its window
        is complete and every frame of its obs and bootstrap stacks is still held by the store."""
        frames = decode(storage.state_dict()["frames"])  # [R] frame id held by each slot
        held = [set(frames[env :: storage.num_envs].tolist()) for env in range(storage.num_envs)]
        valid = np.zeros(storage.capacity, dtype=bool)
        for slot in range(storage.size):
            key = self.by_frame.get(int(frames[slot]))
            if key is None:  # empty slot or a final-frame row
                continue
            env, t = key
            assert env == slot % storage.num_envs
            target = self.target(env, t)
            if target is None:
                continue
            needed = set(self.log[env][t].obs.tolist()) | set(target[3].tolist())
            valid[slot] = (needed - {0}) <= held[env]
        return valid


def _drive(storage: FrameStackStorage, env: StackEnv, ref: Reference, rng: np.random.Generator):
    """One vector step through env -> storage; returns the StorageUpdate."""
    obs, nxt, terminated, truncated = env.step()
    actions = rng.integers(0, 6, size=env.num_envs)
    rewards = rng.normal(size=env.num_envs).astype(np.float32)
    for e in range(env.num_envs):
        ref.record(e, Step(obs[e], int(actions[e]), float(rewards[e]), bool(terminated[e]), bool(truncated[e]),
                           nxt[e]))
    return storage.add_step(render(obs), actions, rewards, render(nxt), terminated, truncated)


def _check_samples(storage: FrameStackStorage, ref: Reference, slots: np.ndarray) -> None:
    rows = storage.get(slots)
    assert rows["obs"].dtype == np.uint8 and rows["obs"].shape == (len(slots), storage.stack, *FRAME)
    assert rows["rewards"].dtype == np.float32 and rows["discounts"].dtype == np.float32
    for i, slot in enumerate(slots):
        env, t = ref.by_frame[int(decode(rows["obs"][i, -1]))]
        assert env == slot % storage.num_envs
        step = ref.log[env][t]
        _, ret, discount, boot = ref.target(env, t)
        np.testing.assert_array_equal(rows["obs"][i], render(step.obs))
        np.testing.assert_array_equal(rows["next_obs"][i], render(boot))
        assert rows["actions"][i] == step.action
        assert rows["rewards"][i] == pytest.approx(ret, rel=1e-5, abs=1e-6)
        assert rows["discounts"][i] == pytest.approx(discount, rel=1e-6)


def _storage(*, num_envs: int = 3, stack: int = 4, n_step: int = 3, capacity: int = 120,
             padding: str = "zeros") -> FrameStackStorage:
    return FrameStackStorage(capacity=capacity, obs_shape=(stack, *FRAME), obs_dtype="uint8", num_envs=num_envs,
                             n_step=n_step, gamma=GAMMA, padding=padding)


@pytest.mark.parametrize(
    ("n_step", "stack", "padding"),
    [(1, 4, "zeros"), (3, 4, "zeros"), (3, 4, "repeat_first"), (3, 1, "zeros"), (5, 2, "repeat_first")],
)
def test_stacks_targets_and_validity_match_the_env(n_step: int, stack: int, padding: str) -> None:
    num_envs, capacity, steps = 3, 3 * 31 + 2, 700  # 31 rows per env: wraps ~25 times; 2 slots unused
    storage = _storage(num_envs=num_envs, stack=stack, n_step=n_step, capacity=capacity, padding=padding)
    env = StackEnv(num_envs=num_envs, stack=stack, padding=padding, seed=n_step + 10 * stack)
    ref, rng = Reference(num_envs, n_step), np.random.default_rng(1)
    tracked = np.zeros(capacity, dtype=bool)  # sampleable slots according to added / removed
    checked = 0
    for _ in range(steps):
        update = _drive(storage, env, ref, rng)
        assert np.all(tracked[update.removed]), "removed a slot that was not sampleable"
        tracked[update.removed] = False
        assert not np.any(tracked[update.added]), "added a slot that was already sampleable"
        tracked[update.added] = True
        expected = ref.brute_force_valid(storage)
        np.testing.assert_array_equal(storage.valid(np.arange(capacity)), expected)
        np.testing.assert_array_equal(tracked, expected)
        assert len(storage) == expected.sum()
        slots = np.flatnonzero(expected)
        if slots.size:
            _check_samples(storage, ref, rng.choice(slots, size=min(8, slots.size), replace=False))
            checked += min(8, slots.size)
    assert checked > 4000
    rows = sum(len(steps) for steps in ref.log) + sum(s.terminated or s.truncated for log in ref.log for s in log)
    assert rows > 10 * storage.rows_per_env * num_envs  # wrapped around many times
    assert storage.size == storage.rows_per_env * num_envs == capacity - 2
    assert not storage.valid(np.array([capacity - 2, capacity - 1, -1, capacity])).any()
    ends = [s for log in ref.log for s in log if s.terminated or s.truncated]
    assert sum(s.terminated for s in ends) > 50 and sum(s.truncated for s in ends) > 50


@pytest.mark.parametrize(
    ("n_step", "stack", "padding", "p_end"),
    [(3, 4, "zeros", 0.05), (1, 4, "repeat_first", 0.05), (5, 2, "zeros", 0.02), (3, 1, "zeros", 0.05)],
)
def test_steady_steps_take_the_short_path_with_the_general_paths_result(
    n_step: int, stack: int, padding: str, p_end: float
) -> None:
    """Step for step, a store using the short path for steps without episode boundaries holds the
    same arrays and reports the same added/removed slots as one sending every step through the
    general path, across life losses, truncations, terminations, restarts without an episode end
    (envs reset on a resume) and many wrap-arounds."""
    num_envs, capacity = 4, 4 * (stack + n_step + 6)
    fast = _storage(num_envs=num_envs, stack=stack, n_step=n_step, capacity=capacity, padding=padding)
    general = _storage(num_envs=num_envs, stack=stack, n_step=n_step, capacity=capacity, padding=padding)
    general.fast_steady_steps = False
    short_steps = []  # steps the short path completed (it declines, returning None, if a stack breaks)
    append = fast._append_continuing
    fast._append_continuing = lambda *args: short_steps.append(append(*args)) or short_steps[-1]
    env, rng = StackEnv(num_envs=num_envs, stack=stack, padding=padding, seed=11, p_end=0.0), np.random.default_rng(3)
    steps = 1500
    for t in range(steps):
        if t == stack + 2:  # first episodes long enough for short steps on padded stacks, then random ends
            assert len(short_steps) == stack + 1 and all(update is not None for update in short_steps)
            env.p_end = p_end
        for e in np.flatnonzero(rng.random(num_envs) < (0.005 if t > stack + 2 else 0.0)):
            env._reset(e)  # a new episode without an end: the open one must never become sampleable
        obs, nxt, terminated, truncated = env.step()
        actions, rewards = rng.integers(0, 6, size=num_envs), rng.normal(size=num_envs).astype(np.float32)
        a = fast.add_step(render(obs), actions, rewards, render(nxt), terminated, truncated)
        b = general.add_step(render(obs), actions, rewards, render(nxt), terminated, truncated)
        np.testing.assert_array_equal(a.added, b.added)
        np.testing.assert_array_equal(a.removed, b.removed)
        assert a.added.dtype == b.added.dtype == np.int64 and a.removed.dtype == b.removed.dtype
        assert len(fast) == len(general)
        for name, value in general.state_dict().items():
            np.testing.assert_array_equal(fast.state_dict()[name], value, err_msg=name)
    completed = sum(update is not None for update in short_steps)
    assert 0.4 * steps < completed < steps  # both paths ran often
    if stack > 1:  # restarts: the short path declined and the general path took them
        assert completed < len(short_steps)
    assert fast.rows_written.sum() > 20 * capacity  # wrapped around many times


def test_a_steady_step_still_checks_the_whole_stack() -> None:
    """With no episode boundary in sight, an obs whose oldest frame does not continue the stored
    stack is rejected like any other broken stack, and the store is left as it was."""
    storage = _storage(num_envs=2, n_step=3, capacity=40)
    env, rng = StackEnv(num_envs=2, stack=4, padding="zeros", seed=5, p_end=0.0), np.random.default_rng(0)
    ref = Reference(2, 3)
    for _ in range(10):
        _drive(storage, env, ref, rng)
    obs, nxt, terminated, truncated = env.step()
    bad = obs.copy()
    bad[1, 0] += 1000  # only the oldest frame of env 1 differs from what the store expects
    before = copy.deepcopy(storage.state_dict())
    with pytest.raises(ValueError, match=r"env\(s\) \[1\] neither continues"):
        storage.add_step(render(bad), np.zeros(2, dtype=np.int64), np.zeros(2), render(nxt), terminated, truncated)
    for name, value in before.items():
        np.testing.assert_array_equal(storage.state_dict()[name], value, err_msg=name)
    storage.add_step(render(obs), np.zeros(2, dtype=np.int64), np.zeros(2), render(nxt), terminated, truncated)
    assert storage.rows_written.tolist() == [11, 11]


def test_hand_checked_episode_with_truncation_and_termination() -> None:
    """One env, S = 2, n = 3: rows, returns and discounts written out by hand."""
    storage = FrameStackStorage(capacity=16, obs_shape=(2, *FRAME), num_envs=1, n_step=3, gamma=0.5)
    ids = [(0, 1), (1, 2), (2, 3), (3, 4)]  # episode A: frames 1..4, 4 is the final frame (truncated)
    rewards = [1.0, 2.0, 4.0]
    for t in range(3):
        update = storage.add_step(render(ids[t])[None], np.array([t]), np.array([rewards[t]]),
                                  render(ids[t + 1])[None], np.array([False]), np.array([t == 2]))
    # rows 0, 1, 2 hold frames 1, 2, 3; row 3 holds the final frame 4; all three become sampleable now
    np.testing.assert_array_equal(update.added, [0, 1, 2])
    rows = storage.get(np.array([0, 1, 2]))
    np.testing.assert_allclose(rows["rewards"], [1 + 2 / 2 + 4 / 4, 2 + 4 / 2, 4])
    np.testing.assert_allclose(rows["discounts"], [0.125, 0.25, 0.5])  # truncation bootstraps
    np.testing.assert_array_equal(decode(rows["obs"]), [[0, 1], [1, 2], [2, 3]])
    np.testing.assert_array_equal(decode(rows["next_obs"]), [[3, 4], [3, 4], [3, 4]])
    assert not storage.valid(np.array([3]))[0]  # the final-frame row is not a transition
    # episode B: frames 10, 11 then terminated with final frame 12
    storage.add_step(render((0, 10))[None], np.array([5]), np.array([1.0]), render((10, 11))[None],
                     np.array([False]), np.array([False]))
    update = storage.add_step(render((10, 11))[None], np.array([6]), np.array([3.0]), render((11, 12))[None],
                              np.array([True]), np.array([False]))
    np.testing.assert_array_equal(update.added, [4, 5])
    rows = storage.get(np.array([4, 5]))
    np.testing.assert_allclose(rows["rewards"], [1 + 3 / 2, 3])
    np.testing.assert_allclose(rows["discounts"], [0.0, 0.0])
    np.testing.assert_array_equal(decode(rows["next_obs"]), [[11, 12], [11, 12]])
    assert len(storage) == 5 and storage.size == 7


def test_prioritized_replay_never_draws_an_unsampleable_slot() -> None:
    num_envs, capacity = 4, 4 * 25
    storage = _storage(num_envs=num_envs, n_step=3, capacity=capacity)
    sampler = PrioritizedSampler(capacity=capacity, seed=3)
    buffer = ReplayBuffer(storage=storage, sampler=sampler)
    env = StackEnv(num_envs=num_envs, stack=4, padding="zeros", seed=7, p_end=0.15)
    ref, rng = Reference(num_envs, 3), np.random.default_rng(2)
    draws = 0
    for _ in range(600):
        obs, nxt, terminated, truncated = env.step()
        actions = rng.integers(0, 6, size=num_envs)
        rewards = rng.normal(size=num_envs).astype(np.float32)
        for e in range(num_envs):
            ref.record(e, Step(obs[e], int(actions[e]), float(rewards[e]), bool(terminated[e]),
                               bool(truncated[e]), nxt[e]))
        buffer.add_step(render(obs), actions, rewards, render(nxt), terminated, truncated)
        valid = storage.valid(np.arange(capacity))
        # exactly the sampleable slots carry priority mass
        np.testing.assert_array_equal(sampler.tree.get(np.arange(capacity)) > 0, valid)
        if len(buffer) >= 16:
            indices, _ = sampler.sample(16, storage.size)
            assert storage.valid(indices).all()
            draws += 16
            batch = buffer.sample(16, "cpu")
            _check_samples(storage, ref, batch.indices)
            buffer.update_priorities(batch.indices, torch.rand(16) * 3)
    assert draws > 8000


def test_uniform_buffer_redraws_unsampleable_slots() -> None:
    storage = _storage(num_envs=2, n_step=3, capacity=2 * 40)
    buffer = ReplayBuffer(storage=storage, sampler=UniformSampler(capacity=80, seed=0))
    env = StackEnv(num_envs=2, stack=4, padding="zeros", seed=3, p_end=0.2)
    ref, rng = Reference(2, 3), np.random.default_rng(4)
    with pytest.raises(ValueError, match="no sampleable"):
        buffer.sample(4, "cpu")
    for _ in range(300):
        _drive(storage, env, ref, rng)
        # the unsampleable slots (open windows, final rows, overwritten history) are never returned
        if len(buffer):
            batch = buffer.sample(32, "cpu")
            assert storage.valid(batch.indices).all()
            assert batch.obs.dtype == torch.uint8 and tuple(batch.obs.shape) == (32, 4, *FRAME)
            torch.testing.assert_close(batch.weights, torch.ones(32))
    assert 0 < len(storage) < storage.size  # some slots in [0, size) are not sampleable


def test_state_dict_is_views_and_round_trip_continues_identically() -> None:
    storage = _storage(num_envs=3, n_step=3, capacity=90)
    env = StackEnv(num_envs=3, stack=4, padding="zeros", seed=5)
    ref, rng = Reference(3, 3), np.random.default_rng(6)
    for _ in range(100):
        _drive(storage, env, ref, rng)
    state = storage.state_dict()
    assert np.shares_memory(state["frames"], storage._frames)  # no copy of the frames
    saved = copy.deepcopy(state)
    restored = _storage(num_envs=3, n_step=3, capacity=90)
    restored.load_state_dict(saved)
    assert len(restored) == len(storage) and restored.size == storage.size
    env_copy, ref_copy = copy.deepcopy(env), copy.deepcopy(ref)
    for i in range(60):  # both stores see the same stream and must answer the same
        a = _drive(storage, env, ref, np.random.default_rng(100 + i))
        b = _drive(restored, env_copy, ref_copy, np.random.default_rng(100 + i))
        np.testing.assert_array_equal(a.added, b.added)
        np.testing.assert_array_equal(a.removed, b.removed)
    slots = np.arange(90)
    np.testing.assert_array_equal(storage.valid(slots), restored.valid(slots))
    valid = slots[storage.valid(slots)]
    for key, value in storage.get(valid).items():
        np.testing.assert_array_equal(restored.get(valid)[key], value)
    _check_samples(restored, ref_copy, valid)
    with pytest.raises(ValueError, match="padding"):
        _storage(num_envs=3, n_step=3, capacity=90, padding="repeat_first").load_state_dict(saved)


def test_rgb_stacks_are_stored_per_frame() -> None:
    """RGB stacks [S * 3, H, W] (frame k in channels 3k..3k+2) behave exactly like grayscale ones."""

    def rgb(frames: np.ndarray) -> np.ndarray:  # [..., S, H, W] -> [..., S * 3, H, W]
        out = np.stack([frames, frames // 2, frames // 3], axis=-3)  # zero padding stays zero
        return out.reshape(*frames.shape[:-3], -1, *frames.shape[-2:])

    gray = _storage(num_envs=2, stack=3, n_step=3, capacity=60)
    color = FrameStackStorage(capacity=60, obs_shape=(9, *FRAME), num_envs=2, n_step=3, gamma=GAMMA,
                              frame_channels=3)
    assert color.stack == 3 and color.frame_shape == (3, *FRAME)
    env, rng = StackEnv(num_envs=2, stack=3, padding="zeros", seed=8), np.random.default_rng(9)
    for _ in range(200):
        obs, nxt, terminated, truncated = env.step()
        actions, rewards = rng.integers(0, 6, size=2), rng.normal(size=2)
        a = gray.add_step(render(obs), actions, rewards, render(nxt), terminated, truncated)
        b = color.add_step(rgb(render(obs)), actions, rewards, rgb(render(nxt)), terminated, truncated)
        np.testing.assert_array_equal(a.added, b.added)
        np.testing.assert_array_equal(a.removed, b.removed)
    slots = np.flatnonzero(gray.valid(np.arange(60)))
    assert slots.size > 30
    want, got = gray.get(slots), color.get(slots)
    np.testing.assert_array_equal(got["obs"], rgb(want["obs"]))
    np.testing.assert_array_equal(got["next_obs"], rgb(want["next_obs"]))
    np.testing.assert_array_equal(got["rewards"], want["rewards"])
    np.testing.assert_array_equal(got["discounts"], want["discounts"])


def test_memory_is_one_frame_per_row() -> None:
    storage = FrameStackStorage(capacity=1000, obs_shape=(4, 84, 84), num_envs=8, n_step=3, gamma=GAMMA)
    frames = storage.state_dict()["frames"]
    assert frames.shape == (1000, 84, 84) and frames.dtype == np.uint8
    assert storage.nbytes <= 1000 * (84 * 84 + 16)  # frames + 12 bytes of per-row metadata


def test_rejects_wrong_padding_reset_obs_as_final_obs_and_vector_obs(caplog: pytest.LogCaptureFixture) -> None:
    zeros = _storage(num_envs=1, n_step=1, capacity=20)
    first = render(np.array([[7, 7, 7, 7]]))  # gymnasium-style repeat_first padding
    with pytest.raises(ValueError, match="padding='zeros'"):
        zeros.add_step(first, np.array([0]), np.array([0.0]), render(np.array([[7, 7, 7, 8]])),
                       np.array([False]), np.array([False]))
    assert len(zeros) == 0 and zeros.size == 0  # a rejected step changes nothing
    obs = render(np.array([[0, 0, 0, 1]]))
    reset = render(np.array([[0, 0, 0, 9]]))  # the autoreset obs passed instead of info["final_obs"]
    with pytest.raises(ValueError, match="final_obs"):
        zeros.add_step(obs, np.array([0]), np.array([0.0]), reset, np.array([False]), np.array([True]))
    with pytest.raises(ValueError, match="circular"):
        FrameStackStorage(capacity=100, obs_shape=(4,), num_envs=1, n_step=1, gamma=GAMMA)
    with pytest.raises(ValueError, match="rows per env"):
        FrameStackStorage(capacity=16, obs_shape=(4, 2, 2), num_envs=2, n_step=3, gamma=GAMMA)


def test_env_restarted_without_episode_end_leaves_its_open_episode_unsampled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = _storage(num_envs=1, n_step=3, capacity=30)

    def run(ids: list[int], steps: int) -> None:
        for _ in range(steps):
            nxt = ids[1:] + [ids[-1] + 1]
            storage.add_step(render(np.array([ids])), np.array([0]), np.array([1.0]), render(np.array([nxt])),
                             np.array([False]), np.array([False]))
            ids = nxt

    run([0, 0, 0, 1], 3)  # frames 1, 2, 3 in rows 0..2; none has its 3-step window yet
    assert len(storage) == 0
    with caplog.at_level(logging.WARNING):
        run([0, 0, 0, 50], 5)  # e.g. envs reset after resuming from a checkpoint: rows 3..7
    assert "restarted without an episode end" in caplog.text
    valid = np.flatnonzero(storage.valid(np.arange(30)))
    np.testing.assert_array_equal(valid, [3, 4])  # rows 0..2 never complete; rows 3, 4 have rows 6, 7
    rows = storage.get(valid)
    np.testing.assert_array_equal(decode(rows["obs"]), [[0, 0, 0, 50], [0, 0, 50, 51]])
    np.testing.assert_array_equal(decode(rows["next_obs"]), [[50, 51, 52, 53], [51, 52, 53, 54]])


def test_builds_from_registry_with_yaml_defaults() -> None:
    from omegaconf import OmegaConf

    from tests.config.test_compose_all import CONF

    cfg = OmegaConf.load(CONF / "replay" / "storage" / "frame_stack.yaml")
    storage = registry.build("replay/storage", cfg, capacity=64, obs_shape=(4, 84, 84), obs_dtype=np.dtype("uint8"),
                             num_envs=2, n_step=3, gamma=GAMMA)
    assert isinstance(storage, FrameStackStorage) and storage.padding == "zeros" and storage.rows_per_env == 32


@pytest.mark.parametrize(
    ("game", "env_kwargs", "steps"),
    [
        # time-limit truncations every 70 steps, reset stacks padded with zeros
        ("pong", {"max_num_frames_per_episode": 4 * 70}, 300),
        # life-loss terminals: the game and its frame stack go on; a game over resets
        ("breakout", {"life_loss_info": True}, 700),
    ],
)
def test_real_ale_vector_env_stacks_are_rebuilt_exactly(game: str, env_kwargs: dict, steps: int) -> None:
    """ale-py's AtariVectorEnv (SameStep autoreset): every sampleable slot returns the env's stacks.

    ale-py pads a reset stack with zero frames. With SameStep autoreset, ``info["final_obs"]``
    appears only on steps where an env ended, as a dense [E, S, H, W] array (no ``_final_obs``
    mask) whose rows only mean something for envs that actually reset; after a life loss with
    ``life_loss_info=True`` there is no reset and the returned obs is the real next one.
    """
    ale_py = pytest.importorskip("ale_py")
    num_envs, n_step, rows_per_env = 2, 3, 64
    env = ale_py.AtariVectorEnv(game=game, num_envs=num_envs, autoreset_mode="SameStep", num_threads=1,
                                **env_kwargs)
    storage = FrameStackStorage(capacity=num_envs * rows_per_env, obs_shape=env.single_observation_space.shape,
                                num_envs=num_envs, n_step=n_step, gamma=GAMMA, padding="zeros")
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    lives = info["lives"].copy()
    log: list[list[tuple]] = [[] for _ in range(num_envs)]  # per env and step: (obs, action, reward, term, trunc, next)
    rows: list[list[int | None]] = [[] for _ in range(num_envs)]  # per env and storage row: step or None (final)
    ends = {"terminated": 0, "truncated": 0, "reset": 0}
    checked = 0
    try:
        for t in range(steps):
            actions = rng.integers(0, env.single_action_space.n, size=num_envs)
            next_obs, rewards, terminated, truncated, info = env.step(actions)
            reset = (terminated | truncated) & ((info["lives"] > lives) | truncated)  # game over or time limit
            real_next = np.where(reset[:, None, None, None], info["final_obs"], next_obs) if reset.any() else next_obs
            lives = info["lives"].copy()
            for e in range(num_envs):
                if not (rows[e] and rows[e][-1] is None and np.array_equal(obs[e], log[e][-1][5])):
                    rows[e].append(t)  # a new row, unless the last final row continues (no reset)
                else:
                    rows[e][-1] = t
                log[e].append((obs[e].copy(), int(actions[e]), float(rewards[e]), bool(terminated[e]),
                               bool(truncated[e]), real_next[e].copy()))
                if terminated[e] or truncated[e]:
                    rows[e].append(None)
            ends["terminated"] += int(terminated.sum())
            ends["truncated"] += int(truncated.sum())
            ends["reset"] += int(reset.sum())
            storage.add_step(obs, actions, rewards, real_next, terminated, truncated)
            obs = next_obs
            if t % 20 == 19:
                slots = np.flatnonzero(storage.valid(np.arange(storage.capacity)))
                got = storage.get(slots)
                for i, slot in enumerate(slots):
                    e, pos = slot % num_envs, slot // num_envs
                    row = pos + rows_per_env * ((len(rows[e]) - 1 - pos) // rows_per_env)
                    step = rows[e][row]
                    total, k = 0.0, 0
                    while True:  # reference n-step target from the raw log
                        _, _, reward, term, trunc, nxt = log[e][step + k]
                        total += GAMMA**k * reward
                        k += 1
                        if term or trunc or k == n_step:
                            break
                    np.testing.assert_array_equal(got["obs"][i], log[e][step][0])
                    np.testing.assert_array_equal(got["next_obs"][i], nxt)
                    assert got["actions"][i] == log[e][step][1]
                    assert got["rewards"][i] == pytest.approx(total, abs=1e-5)
                    assert got["discounts"][i] == pytest.approx(0.0 if term else GAMMA**k, rel=1e-6)
                checked += slots.size
    finally:
        env.close()
    assert sum(len(r) for r in rows) > 3 * storage.capacity  # wrapped around
    assert checked > 1000
    if game == "pong":
        assert ends["truncated"] >= 6 and ends["reset"] == ends["truncated"]
    else:
        assert ends["terminated"] > ends["reset"] >= 1  # life losses (no reset) and game overs
