"""Sync-free updates (issue 13): no host sync per update, a device-side skip of non-finite updates.

On CPU ``sync_free=true`` forces the mode on: the weights and the logged means must equal the default
path's, every device read in the update path is trapped, and a NaN update must change nothing and
stop the run at the next log. The ``gpu`` test runs the updates under ``torch.cuda.set_sync_debug_mode``.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch

from tests.helpers import QUIET, compose
from tests.unit.test_bit_identical_updates import PRESETS, _batch

LOSS = "losses/td_loss"


def _parts(*overrides: str, device: str = "cpu"):
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    torch.manual_seed(0)
    return build_parts(compose("torch_threads=1", "seed=3", *overrides), torch.device(device))


def _trainer(tmp_path, *overrides: str, device: str = "cpu", fill: int = 300):
    """A loop whose replay holds ``fill`` random CartPole transitions."""
    import rlkit.components  # noqa: F401
    from rlkit.training.loop import Trainer

    torch.manual_seed(0)
    cfg = compose(*QUIET, "torch_threads=1", f"device={device}", "agent.batch_size=32", *overrides)
    trainer = Trainer(cfg, tmp_path)
    rng, replay = np.random.default_rng(0), trainer.parts.replay
    num_envs = trainer.parts.env_maker.num_envs
    obs = rng.normal(size=(num_envs, 4)).astype(np.float32)
    for t in range(fill // num_envs):
        next_obs = rng.normal(size=(num_envs, 4)).astype(np.float32)
        done = np.full(num_envs, t % 20 == 19)
        replay.add_step(obs, rng.integers(2, size=num_envs), rng.normal(size=num_envs).astype(np.float32),
                        next_obs, done, np.zeros(num_envs, dtype=bool))
        obs = next_obs
    trainer.state.step = fill
    return trainer


def _state(agent) -> dict[str, torch.Tensor]:
    """Online weights and every optimiser-state tensor, copied (not the noise: each update draws it)."""
    state = {f"online.{k}": v.detach().clone() for k, v in agent.online.named_parameters()}
    for i, entry in agent.optimizer.state_dict()["state"].items():
        state.update({f"optim.{i}.{k}": torch.as_tensor(v).clone() for k, v in entry.items()})
    return state


def _assert_bit_identical(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


# ------------------------------------------------------------------------------------------- the option
def test_auto_is_on_for_cuda_only_and_the_value_is_validated():
    from rlkit.training.builder import sync_free_enabled
    from rlkit.validation import validate_config

    assert sync_free_enabled("auto", torch.device("cuda")) and not sync_free_enabled("auto", torch.device("cpu"))
    assert sync_free_enabled(True, torch.device("cpu")) and not sync_free_enabled(False, torch.device("cuda"))
    assert not _parts("agent=dqn").agent.sync_free  # the CPU default: today's path
    problems = {p.key: p for p in validate_config(compose("sync_free=maybe"))}
    assert "sync_free" in problems and "auto, true or false" in problems["sync_free"].message
    assert "sync_free" not in {p.key for p in validate_config(compose("sync_free=true"))}


# --------------------------------------------------------------------------------- same numbers on CPU
@pytest.mark.parametrize("preset", PRESETS)
def test_same_weights_as_the_default_path(preset):
    """The golden test's dozen acts and updates, sync-free vs default: bit-identical on CPU."""
    runs = []
    for sync_free in (False, True):
        parts = _parts(f"agent={preset}", f"sync_free={str(sync_free).lower()}")
        agent, cfg_gamma = parts.agent, 0.99 ** 3
        assert agent.sync_free is sync_free
        rng, losses = np.random.default_rng(0), []
        for i in range(12):
            obs = rng.normal(size=(4, 4)).astype(np.float32)
            agent.act(obs, step=i * 500)
            out = agent.update(_batch(rng, 4, parts.env_maker.spec.num_actions, cfg_gamma))
            losses.append({k: float(v) for k, v in out.metrics.items()})
            agent.maybe_sync_target(i * 500)
        runs.append((_state(agent), losses))
    (want, want_losses), (got, got_losses) = runs
    assert got_losses == want_losses
    _assert_bit_identical(got, want)


@pytest.mark.parametrize("overrides", [("agent=dqn",), ("agent=rainbow",)], ids=["dqn", "rainbow_per"])
def test_logged_means_match_the_default_path(tmp_path, overrides):
    means = []
    for sync_free in ("false", "true"):
        trainer = _trainer(tmp_path / sync_free, *overrides, f"sync_free={sync_free}")
        for _ in range(3):
            trainer._update_cycle(32, 4, trainer.state.step)
        metrics = trainer._training_metrics(1000, 1.0)
        means.append({k: v for k, v in metrics.items() if k.startswith(("losses/", "noise/"))})
    assert LOSS in means[0] and "losses/grad_norm" in means[0]
    assert means[1] == pytest.approx(means[0], rel=1e-12, abs=0)


# ------------------------------------------------------------------------------------- no device reads
_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__index__", "__bool__", "__complex__")


def _trap_reads(monkeypatch) -> dict[str, int]:
    """Every device read raises, except the PER transfer in ``Trainer._send_priorities`` (counted) and
    torch's optimisers reading their step counters, which are host tensors on CPU (on CUDA sync-free
    mode keeps them on the device and torch reads nothing: the ``gpu`` test checks that)."""
    allowed = {"priority transfers": 0}
    for name in _READS:
        original = getattr(torch.Tensor, name)

        def trapped(self, *args, _name=name, _original=original, **kwargs):
            caller = sys._getframe(1)
            if caller.f_globals.get("__name__", "").startswith("torch.optim"):
                return _original(self, *args, **kwargs)
            if caller.f_code.co_name == "_send_priorities":
                allowed["priority transfers"] += _name == "cpu"
                return _original(self, *args, **kwargs)
            raise AssertionError(f"Tensor.{_name} read the device in the update path")

        monkeypatch.setattr(torch.Tensor, name, trapped)
    return allowed


@pytest.mark.parametrize(("overrides", "transfers"), [
    (("agent=dqn",), 0),
    (("agent=rainbow", "replay/sampler=uniform"), 0),
    (("agent=m_iqn",), 0),
    (("agent=rainbow",), 1),  # PER: the priorities go to the host's sum tree
], ids=["dqn", "rainbow_uniform", "m_iqn", "rainbow_per"])
def test_update_path_reads_nothing_from_the_device(tmp_path, monkeypatch, overrides, transfers):
    trainer = _trainer(tmp_path, *overrides, "sync_free=true")
    agent, replay = trainer.parts.agent, trainer.parts.replay
    counts = _trap_reads(monkeypatch)
    for cycle in range(3):  # from the first update on: the optimiser's state is created in here too
        trainer.state.step += 4
        replay.set_progress(0.5)
        trainer._update_cycle(32, 2, trainer.state.step)
        agent.maybe_sync_target(trainer.state.step)
        agent.exploration.epsilon(trainer.state.step)
    assert counts["priority transfers"] == transfers * 6
    monkeypatch.undo()
    assert agent.updates == 6
    metrics = trainer._training_metrics(12, 1.0)  # the log: one read
    assert np.isfinite(metrics[LOSS])


@pytest.mark.gpu
@pytest.mark.parametrize("overrides", [("agent=dqn",), ("agent=rainbow", "replay/sampler=uniform")],
                         ids=["dqn", "rainbow_uniform"])
def test_cuda_updates_never_sync(tmp_path, overrides):
    trainer = _trainer(tmp_path, *overrides, device="cuda")  # sync_free=auto: on for CUDA
    agent = trainer.parts.agent
    assert agent.sync_free
    trainer._update_cycle(32, 2, trainer.state.step)  # warm-up: CUDA context, kernels, the optimiser's state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(4):
            trainer.state.step += 4
            trainer._update_cycle(32, 2, trainer.state.step)
            agent.maybe_sync_target(trainer.state.step)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    metrics = trainer._training_metrics(16, 1.0)
    assert np.isfinite(metrics[LOSS]) and agent.updates == 10


# --------------------------------------------------------------------------------- non-finite updates
def _nan_batch(batch):
    batch.rewards = batch.rewards * float("nan")
    return batch


@pytest.mark.parametrize("optim", ["adam", "adam optim.fused=false", "rmsprop", "rmsprop_tf"])
def test_a_nan_update_changes_nothing_and_later_ones_apply(optim):
    """The NaN update leaves weights and optimiser state bit-identical; the updates after it give
    exactly what a twin that never saw the NaN batch gets (Adam: fused, as auto picks on CPU, and per-tensor)."""
    from rlkit.agents.guarded_step import guarded_step

    optim, *extra = optim.split()
    extra = [f"optim.name={optim}", *extra]  # CartPole's DQN tuning names torch's RMSProp: keep the one chosen
    parts = _parts("agent=dqn", f"optim={optim}", *extra, "sync_free=true")
    twin = _parts("agent=dqn", f"optim={optim}", *extra)
    from rlkit.optim import RMSpropEpsInSqrt

    kinds = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "rmsprop_tf": RMSpropEpsInSqrt}
    assert type(parts.agent.optimizer) is kinds[optim]
    if optim == "adam":
        assert parts.agent.optimizer.param_groups[0]["fused"] is ("optim.fused=false" not in extra)
    agent, gamma = parts.agent, 0.99
    rng = np.random.default_rng(0)
    batches = [_batch(rng, 4, 2, gamma) for _ in range(5)]
    for batch in batches[:3]:
        agent.update(batch)
        twin.agent.update(copy.deepcopy(batch))
    before = _state(agent)
    out = agent.update(_nan_batch(copy.deepcopy(batches[3])))
    assert torch.isnan(out.metrics[LOSS]) and agent.updates == 4  # counted, reported, not applied
    _assert_bit_identical(_state(agent), before)
    _assert_bit_identical(_state(agent), _state(twin.agent))
    for batch in batches[3:]:
        agent.update(batch)
        twin.agent.update(copy.deepcopy(batch))
    _assert_bit_identical(_state(agent), _state(twin.agent))
    assert not torch.equal(_state(agent)["online.torso.layers.0.weight"], before["online.torso.layers.0.weight"])
    # a skipped first step leaves the zeros every one of these optimisers starts from
    fresh = _parts("agent=dqn", f"optim={optim}", *extra).agent
    for p in fresh.online.parameters():
        p.grad = torch.full_like(p, float("nan"))
    guarded_step(fresh.optimizer, torch.tensor(False))
    assert all(torch.count_nonzero(torch.as_tensor(v)) == 0
               for entry in fresh.optimizer.state.values() for v in entry.values())


def test_rainbow_nan_update_changes_nothing():
    """Adam, noisy layers, C51 (a NaN reward would break the projection's indices: poison the loss)."""
    parts = _parts("agent=rainbow", "sync_free=true")
    agent, rng, loss = parts.agent, np.random.default_rng(0), parts.agent.loss
    for _ in range(3):
        agent.update(_batch(rng, 4, 2, 0.99 ** 3))
    before = _state(agent)

    def poisoned(nets, batch):
        out = loss(nets, batch)
        out.loss = out.loss * float("nan")
        return out

    agent.loss = poisoned
    out = agent.update(_batch(rng, 4, 2, 0.99 ** 3))
    assert torch.isnan(out.metrics[LOSS])
    _assert_bit_identical(_state(agent), before)


@pytest.mark.parametrize("sampler", ["uniform", "prioritized"])
def test_a_nan_loss_stops_the_run(tmp_path, sampler):
    """Uniform replay: found at the next log (step 1000), naming the first NaN update and its step;
    the checkpoint before it stays the newest. PER: found at once, in the priorities' transfer."""
    from rlkit.agents.dqn import NonFiniteLossError
    from rlkit.training.checkpoint import latest_checkpoint
    from rlkit.training.loop import Trainer

    cfg = compose(*QUIET, "torch_threads=1", "agent=dqn", "sync_free=true", f"replay/sampler={sampler}",
                  "train.steps=2000", "checkpoint.every=500", "train.log_every_steps=500", "eval.every_steps=0",
                  "train.learning_starts_steps=200", "train.update_every_steps=4", "train.updates_per_cycle=1")
    trainer = Trainer(cfg, tmp_path)
    loss, seen = trainer.parts.agent.loss, {"calls": 0}

    def poisoned(nets, batch):
        out = loss(nets, batch)
        seen["calls"] += 1
        if seen["calls"] == 151:  # update 151, at agent step 800: after the checkpoint at 500
            seen["step"], seen["state"] = trainer.state.step, _state(trainer.parts.agent)
        if seen["calls"] >= 151:  # and every update after it
            out.loss = out.loss * float("nan")
        return out

    trainer.parts.agent.loss = poisoned
    with pytest.raises(NonFiniteLossError) as err:
        trainer.train()
    message = str(err.value)
    assert f"the loss is nan at update 151; weights left unchanged, at agent step {seen['step']}." in message
    assert "step_000000000500" in message and "not touched" in message
    assert latest_checkpoint(tmp_path).step == 500
    assert not (tmp_path / "model.pt").exists()
    _assert_bit_identical(_state(trainer.parts.agent), seen["state"])  # nothing after it was applied
    if sampler == "uniform":
        assert "found at agent step 1000" in message and trainer.parts.agent.updates == 201
    else:
        assert "Sync-free" not in message and trainer.parts.agent.updates == 151
