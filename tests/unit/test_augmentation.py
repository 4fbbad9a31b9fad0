"""DrQ random shifts (rlkit/augmentation.py), the agent applying them, and the DrQ(eps) preset."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlkit import registry
from rlkit.augmentation import NoAugmentation, RandomShift, _generator, shift_images
from rlkit.types import Batch
from tests.helpers import compose, read_jsonl, train_in_process

PAD = 4
SHIFTS = [(dy, dx) for dy in range(-PAD, PAD + 1) for dx in range(-PAD, PAD + 1)]


def _batch(obs: torch.Tensor, next_obs: torch.Tensor | None = None) -> Batch:
    size = obs.shape[0]
    return Batch(obs=obs, actions=torch.arange(size) % 2, rewards=torch.linspace(-1, 1, size),
                 next_obs=obs.clone() if next_obs is None else next_obs, discounts=torch.full((size,), 0.9),
                 weights=torch.rand(size), indices=np.arange(size))


def _images(size: int, channels: int = 2, height: int = 8, width: int = 9, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (size, channels, height, width), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def _recover_shifts(source: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    """[B, 2] (dy, dx) for which ``shifted`` is the crop of ``source`` edge-padded by PAD; every sample
    must match exactly one of the 81 integer shifts."""
    padded = F.pad(source.float(), (PAD, PAD, PAD, PAD), mode="replicate")  # torch's ReplicationPad2d
    height, width = source.shape[-2:]
    matches = torch.stack([
        (padded[..., PAD + dy:PAD + dy + height, PAD + dx:PAD + dx + width] == shifted.float()).flatten(1).all(1)
        for dy, dx in SHIFTS])  # [81, B]
    assert torch.equal(matches.sum(0), torch.ones(source.shape[0], dtype=torch.long)), "not one integer shift"
    return torch.tensor(SHIFTS)[matches.int().argmax(0)]


# ------------------------------------------------------------------------------------ random_shift
def test_every_output_is_an_edge_padded_integer_shift_and_all_81_shifts_occur():
    obs, next_obs = _images(1500, seed=1), _images(1500, seed=2)
    out = RandomShift(pad=PAD, seed=0)(_batch(obs, next_obs))
    obs_shifts, next_shifts = _recover_shifts(obs, out.obs), _recover_shifts(next_obs, out.next_obs)
    for shifts in (obs_shifts, next_shifts):
        assert shifts.abs().max() == PAD
        assert len({tuple(s) for s in shifts.tolist()}) == 81  # every shift in [-4, 4]^2 occurs
    # obs and next_obs are shifted independently: the same shift about 1 time in 81
    same = (obs_shifts == next_shifts).all(1).float().mean().item()
    assert same < 0.05


def test_one_shift_for_all_frames_of_a_stack():
    frame = _images(64, channels=1, height=12, width=12, seed=3)
    stack = frame.expand(64, 4, 12, 12).contiguous()  # four identical frames per observation
    out = RandomShift(seed=1)(_batch(stack)).obs
    assert all(torch.equal(out[:, 0], out[:, c]) for c in range(1, 4))
    assert not torch.equal(out, stack)  # and they did move
    # per channel, the recovered shifts agree as well on a stack of different frames
    varied = _images(64, channels=4, height=12, width=12, seed=4)
    shifted = RandomShift(seed=2)(_batch(varied)).obs
    per_frame = [_recover_shifts(varied[:, c:c + 1], shifted[:, c:c + 1]) for c in range(4)]
    assert all(torch.equal(per_frame[0], s) for s in per_frame[1:])


def test_dtype_kept_other_fields_untouched_input_not_modified():
    obs = _images(16, channels=4, height=84, width=84)
    batch = _batch(obs)
    before = obs.clone()
    out = RandomShift(seed=0)(batch)
    assert out.obs.dtype == out.next_obs.dtype == torch.uint8 and out.obs.shape == obs.shape
    assert torch.equal(batch.obs, before)  # a new tensor, the sampled one untouched
    for field in ("actions", "rewards", "discounts", "weights", "indices"):
        assert getattr(out, field) is getattr(batch, field)
    floats = RandomShift(seed=0)(_batch(obs.float() / 255)).obs
    assert floats.dtype == torch.float32 and torch.equal(floats, out.obs.float() / 255)  # same shifts, any dtype


def test_none_returns_the_batch_itself():
    batch = _batch(_images(4))
    none = NoAugmentation()
    assert none(batch) is batch and none.state_dict() == {}


def test_random_shift_refuses_vector_observations():
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        RandomShift()(_batch(torch.zeros(8, 4)))
    with pytest.raises(ValueError, match="pad"):
        RandomShift(pad=-1)


def test_shifts_follow_the_seed_and_the_state_dict_round_trip_is_exact():
    batch = _batch(_images(32, channels=4, height=20, width=20))
    first, same_seed, other_seed = RandomShift(seed=7), RandomShift(seed=7), RandomShift(seed=8)
    a, b, c = first(batch), same_seed(batch), other_seed(batch)
    assert torch.equal(a.obs, b.obs) and torch.equal(a.next_obs, b.next_obs)
    assert not torch.equal(a.obs, c.obs)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # as checkpoints save it (tensors.pt, weights_only)
    buffer.seek(0)
    restored = RandomShift(seed=123)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    torch.manual_seed(0)  # torch's global generator plays no part
    expected, got = first(batch), restored(batch)
    assert torch.equal(expected.obs, got.obs) and torch.equal(expected.next_obs, got.next_obs)


def test_defaults_draw_and_shift_exactly_as_before():
    """Default knobs (no intensity, symmetric shifts) = the code before they existed, bit for bit."""
    batch = _batch(_images(64, channels=4, height=84, width=84, seed=5))
    aug, old_generator = RandomShift(seed=11), _generator(11)
    for _ in range(3):
        out = aug(batch)
        shifts = torch.randint(-PAD, PAD + 1, (2, 2, 64), generator=old_generator)  # the former __call__
        assert torch.equal(out.obs, shift_images(batch.obs, shifts[0, 0], shifts[0, 1]))
        assert torch.equal(out.next_obs, shift_images(batch.next_obs, shifts[1, 0], shifts[1, 1]))
        assert out.obs.dtype == torch.uint8
    assert torch.equal(aug.state_dict()["generator"], old_generator.get_state())  # no extra draws


def test_intensity_scale_matches_dopamine_formula_by_hand():
    """Dopamine's _intensity_aug: x * (1 + 0.05 clip(r, -2, 2)), r ~ N(0, 1) per image, after the shift."""
    size = 512
    obs, next_obs = _images(size, channels=2, height=6, width=7, seed=6), _images(size, channels=2, height=6,
                                                                                    width=7, seed=7)
    out = RandomShift(pad=PAD, intensity_scale=0.05, seed=3)(_batch(obs, next_obs))
    assert out.obs.dtype == out.next_obs.dtype == torch.float32
    generator = _generator(3)  # the same stream: the shifts first, then one normal per image
    shifts = torch.randint(-PAD, PAD + 1, (2, 2, size), generator=generator)
    noise = torch.randn((2, size), generator=generator).double()
    for which, (source, got) in enumerate(((obs, out.obs), (next_obs, out.next_obs))):
        shifted = shift_images(source, shifts[which, 0], shifts[which, 1]).double() / 255.0  # [B, C, H, W]
        factor = 1.0 + 0.05 * noise[which].clamp(-2.0, 2.0)  # [B]
        torch.testing.assert_close(got.double(), shifted * factor.view(size, 1, 1, 1), rtol=1e-6, atol=1e-7)
        # one factor per image (all frames and pixels), clipped at 1 -+ 0.05 * 2
        ratio = got.double() / shifted.clamp(min=1 / 255)  # [B, C, H, W], pixel 0 excluded by the clamp
        per_image = ratio.flatten(1)[:, 0]  # first pixel: images from randint(0, 256) may hold a 0 there
        assert float(factor.min()) == pytest.approx(0.9) and float(factor.max()) == pytest.approx(1.1)
        clipped = noise[which].abs() > 2.0
        assert 5 < int(clipped.sum()) < 60  # P(|r| > 2) = 4.6%: about 23 of 512 images hit the clip
        assert torch.allclose(factor[clipped], 1.0 + 0.1 * noise[which][clipped].sign())
        nonzero = shifted.flatten(1)[:, 0] > 0
        torch.testing.assert_close(per_image[nonzero], factor[nonzero], rtol=1e-6, atol=1e-7)
    # one hand-computed pixel: sample 0, frame 1, row 2, column 3
    dy, dx = int(shifts[0, 0, 0]), int(shifts[0, 1, 0])
    pixel = int(obs[0, 1, min(max(2 + dy, 0), 5), min(max(3 + dx, 0), 6)])
    expected = pixel / 255.0 * (1.0 + 0.05 * min(max(float(noise[0, 0]), -2.0), 2.0))
    assert float(out.obs[0, 1, 2, 3]) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_intensity_scales_float_inputs_as_they_are_and_round_trips_its_state():
    batch = _batch(_images(32, channels=4, height=20, width=20, seed=8))
    as_bytes = RandomShift(intensity_scale=0.05, seed=4)(batch)
    as_floats = RandomShift(intensity_scale=0.05, seed=4)(_batch(batch.obs.float() / 255, batch.next_obs.float() / 255))
    assert torch.equal(as_bytes.obs, as_floats.obs) and torch.equal(as_bytes.next_obs, as_floats.next_obs)
    first = RandomShift(intensity_scale=0.05, seed=9)
    first(batch)
    restored = RandomShift(intensity_scale=0.05, seed=0)
    restored.load_state_dict(first.state_dict())
    expected, got = first(batch), restored(batch)
    assert torch.equal(expected.obs, got.obs) and torch.equal(expected.next_obs, got.next_obs)


def test_exclusive_max_shifts_are_dopamines_minus_pad_to_pad_minus_one():
    """Dopamine's crop offsets jax.random.randint(key, (B,), 0, 2 * pad) exclude maxval: shifts -4..3."""
    size, side = 2000, 12
    coords = torch.arange(side * side, dtype=torch.uint8).view(1, 1, side, side)  # pixel value = 12 row + col
    images = coords.expand(size, 2, side, side).contiguous()
    out = RandomShift(pad=PAD, shift_range="exclusive_max", seed=0)(_batch(images))
    for shifted in (out.obs, out.next_obs):
        centre = shifted[:, 0, 6, 6].long()  # (6 + dy, 6 + dx): never clamped for |shift| <= 4
        shifts = torch.stack([centre // side - 6, centre % side - 6], 1)  # [B, 2] (dy, dx)
        assert int(shifts.min()) == -PAD and int(shifts.max()) == PAD - 1
        assert len({tuple(s) for s in shifts.tolist()}) == 64  # every shift in [-4, 3]^2 occurs
        assert torch.equal(shifted, shift_images(images, shifts[:, 0], shifts[:, 1]))
    assert out.obs.dtype == torch.uint8  # no intensity: the frames stay bytes


def test_random_shift_refuses_bad_intensity_and_shift_range():
    with pytest.raises(ValueError, match="intensity_scale"):
        RandomShift(intensity_scale=-0.05)
    with pytest.raises(ValueError, match="shift_range"):
        RandomShift(shift_range="asymmetric")
    with pytest.raises(ValueError, match="pad must be >= 1"):
        RandomShift(pad=0, shift_range="exclusive_max")


@pytest.mark.gpu
def test_cuda_shifts_equal_the_cpu_shifts():
    batch = _batch(_images(32, channels=4, height=84, width=84))
    on_gpu = Batch(**{k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in vars(batch).items()})
    cpu, gpu = RandomShift(seed=5)(batch), RandomShift(seed=5)(on_gpu)
    assert gpu.obs.is_cuda and gpu.obs.dtype == torch.uint8
    assert torch.equal(gpu.obs.cpu(), cpu.obs) and torch.equal(gpu.next_obs.cpu(), cpu.next_obs)
    cpu, gpu = RandomShift(seed=5, intensity_scale=0.05)(batch), RandomShift(seed=5, intensity_scale=0.05)(on_gpu)
    assert gpu.obs.is_cuda and gpu.obs.dtype == torch.float32
    torch.testing.assert_close(gpu.obs.cpu(), cpu.obs, rtol=1e-6, atol=0)
    torch.testing.assert_close(gpu.next_obs.cpu(), cpu.next_obs, rtol=1e-6, atol=0)


# ------------------------------------------------------------------------------------------ agent
class _Spy:
    def __init__(self) -> None:
        self.seen: list[Batch] = []
        self.returned: list[Batch] = []

    def __call__(self, batch: Batch) -> Batch:
        self.seen.append(batch)
        out = Batch(**{**vars(batch), "obs": batch.obs + 1.0})
        self.returned.append(out)
        return out

    def state_dict(self) -> dict:
        return {"calls": len(self.seen)}

    def load_state_dict(self, state: dict) -> None:
        pass


@pytest.fixture
def spy_augmentation():
    registry.register("augmentation", "spy_test")(_Spy)
    yield "spy_test"
    registry._REGISTRY["augmentation"].pop("spy_test", None)


def _parts(*overrides: str):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    return build_parts(compose("torch_threads=1", *overrides), torch.device("cpu"))


def _record_loss_batches(agent) -> list[Batch]:
    seen, loss = [], agent.loss

    def recording(nets, batch):
        seen.append(batch)
        return loss(nets, batch)

    agent.loss = recording
    return seen


def test_agent_update_applies_the_augmentation_before_the_loss(spy_augmentation):
    agent = _parts("agent=dqn", f"augmentation.name={spy_augmentation}").agent
    assert isinstance(agent.augmentation, _Spy)
    seen_by_loss = _record_loss_batches(agent)
    batch = _batch(torch.rand(8, 4))
    agent.update(batch)
    agent.update(batch)
    assert agent.augmentation.seen == [batch, batch]  # once per update, on the sampled batch
    assert seen_by_loss == agent.augmentation.returned  # the loss sees the augmented batch
    assert agent.state_dict()["augmentation"] == {"calls": 2}


def test_drq_eps_builds_on_atari_shifts_learner_batches_and_saves_its_generator():
    parts = _parts("experiment=atari100k_drq_eps", "replay.capacity=1000")
    agent = parts.agent
    assert isinstance(agent.augmentation, RandomShift) and agent.augmentation.pad == 4
    # Dopamine's drq_image_augmentation: intensity 0.05 after the shift, crop offsets randint(0, 8) (-4..3)
    assert (agent.augmentation.intensity_scale, agent.augmentation.shift_range) == (0.05, "exclusive_max")
    assert (type(agent.online.head).__name__, type(agent.target_rule).__name__) == ("DuelingHead", "DoubleTarget")
    assert agent.loss.kind == "huber" and agent.max_grad_norm is None and agent.target_update_every_steps == 1
    seen_by_loss = _record_loss_batches(agent)
    batch = _batch(_images(4, channels=4, height=84, width=84))
    state = agent.state_dict()["augmentation"]
    agent.update(batch)
    augmented = seen_by_loss[0]
    # the intensity scale makes the frames float32 pixels / 255 times 1 + 0.05 clip(N(0, 1), -2, 2)
    assert augmented.obs.dtype == augmented.next_obs.dtype == torch.float32
    assert 0.0 <= float(augmented.obs.min()) and float(augmented.obs.max()) <= 1.1 + 1e-6
    assert augmented.actions is batch.actions and augmented.weights is batch.weights
    assert augmented.rewards is batch.rewards and augmented.discounts is batch.discounts
    # target period 1 (Dopamine's target_update_period = 1): after each step's update the target is the online net
    assert agent.maybe_sync_target(1_601)
    assert all(torch.equal(t, o) for t, o in zip(agent.target.state_dict().values(), agent.online.state_dict().values()))
    assert agent.maybe_sync_target(1_602)
    # the agent's checkpoint state carries the generator: a restored agent draws the same shifts again
    agent.augmentation.load_state_dict(state)
    again = agent.augmentation(batch)
    assert torch.equal(again.obs, augmented.obs) and torch.equal(again.next_obs, augmented.next_obs)


# -------------------------------------------------------------------------------- epsilon schedule
def _dopamine_linearly_decaying_epsilon(decay_period: int, step: int, warmup_steps: int, epsilon: float) -> float:
    """dopamine/jax/agents/dqn/dqn_agent.py, linearly_decaying_epsilon."""
    steps_left = decay_period + warmup_steps - step
    bonus = (1.0 - epsilon) * steps_left / decay_period
    return epsilon + float(np.clip(bonus, 0.0, 1.0 - epsilon))


def test_drq_eps_epsilon_reproduces_dopamine():
    exploration = registry.build("exploration", compose("experiment=atari100k_drq_eps").exploration)
    # hand-computed: 1 until step 1599; then 1 - 0.99 (t - 1599) / 5000; 0.01 from step 6599
    for step, value in ((0, 1.0), (1_599, 1.0), (1_600, 1 - 0.99 / 5_000), (4_099, 0.505),
                        (6_598, 0.01 + 0.99 / 5_000), (6_599, 0.01), (100_000, 0.01)):
        assert math.isclose(exploration.epsilon(step), value, rel_tol=1e-12, abs_tol=1e-12), step
    # Dopamine's _train_step increments training_steps before the action is chosen: action t sees t + 1
    for step in range(0, 8_000, 7):
        dopamine = _dopamine_linearly_decaying_epsilon(5_000, step + 1, 1_600, 0.01)
        assert math.isclose(exploration.epsilon(step), dopamine, rel_tol=1e-12, abs_tol=1e-12), step


def test_epsilon_start_step_defaults_to_decaying_from_step_zero():
    from rlkit.exploration import EpsilonGreedy

    assert EpsilonGreedy(start=1.0, end=0.1, decay_steps=100).epsilon(50) == pytest.approx(0.55)
    delayed = EpsilonGreedy(start=1.0, end=0.1, decay_steps=100, start_step=20)
    assert [delayed.epsilon(s) for s in (0, 20, 70, 120)] == pytest.approx([1.0, 1.0, 0.55, 0.1])
    assert compose("agent=dqn").exploration.start_step == 0


# ------------------------------------------------------------------------------ validation and runs
def test_validation_refuses_random_shift_on_cartpole():
    from rlkit.validation import validate_config

    problems = {p.key: p for p in validate_config(compose("agent=dqn", "augmentation=random_shift"))}
    assert set(problems) == {"augmentation.name"}
    problem = problems["augmentation.name"]
    assert "[4]" in problem.message and "augmentation=none" in problem.fix
    assert validate_config(compose("agent=dqn", "env=atari", "augmentation=random_shift")) == []
    assert compose("agent=drq_eps").augmentation.name == "none"  # CartPole tuning turns the shifts off


def test_tiny_drq_eps_atari_run(tmp_path):
    run = tmp_path / "run"
    summary = train_in_process(
        run, "experiment=atari100k_drq_eps", "env.game=pong", "train.steps=300", "train.learning_starts_steps=100",
        "replay.capacity=1000", "agent.batch_size=8", "train.update_every_steps=4", "train.log_every_steps=100", "eval.every_steps=0", "eval.episodes=1",
        "eval.final_episodes=1", "eval.num_envs=1", "eval.max_steps=100", "checkpoint.every=0")
    assert summary["steps"] == 300 and summary["updates"] == 51  # an update every 4th step from step 100 on
    rows = read_jsonl(run / "metrics.jsonl")
    losses = [r["losses/td_loss"] for r in rows if "losses/td_loss" in r]
    assert losses and all(math.isfinite(v) for v in losses)
    config = (run / "config.yaml").read_text()
    for line in ("name: random_shift", "intensity_scale: 0.05", "shift_range: exclusive_max", "padding: same",
                 "shared_hidden: true"):
        assert line in config, line
