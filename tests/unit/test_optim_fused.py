"""``optim=adam`` with ``fused``: torch's one-kernel Adam where torch has it, the same update up to rounding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlkit.optim import adam, fused_adam_supported
from tests.helpers import compose


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in [(64, 32), (64,), (3, 3, 5, 5)]]


def _run(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], steps: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g) * 1e-3
        optimizer.step()
    return [p.detach().clone() for p in params]


def test_auto_picks_the_fused_kernel_on_this_torch_and_false_keeps_torchs_default():
    params = _params()
    assert fused_adam_supported(params)  # torch >= 2.4 has a CPU kernel (the pinned CPU build is 2.13)
    assert adam(params=params).param_groups[0]["fused"] is True
    per_tensor = adam(params=params, fused=False)
    assert not per_tensor.param_groups[0]["fused"] and not per_tensor.param_groups[0]["foreach"]
    # fused=False is torch's Adam as torch builds it by default: bit for bit
    ours, theirs = _params(), _params()
    got = _run(adam(params=ours, lr=1e-3, eps=1e-8, fused=False), ours, 20)
    want = _run(torch.optim.Adam(theirs, lr=1e-3, eps=1e-8), theirs, 20)
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_fused_and_per_tensor_adam_take_the_same_steps_up_to_rounding():
    fused_params, loop_params = _params(), _params()
    fused = _run(adam(params=fused_params, lr=1e-3, eps=1.5e-4, fused=True), fused_params, 50)
    loop = _run(adam(params=loop_params, lr=1e-3, eps=1.5e-4, fused=False), loop_params, 50)
    start = _params()
    for f, p, s in zip(fused, loop, start):
        moved = (p - s).abs().max()
        assert moved > 1e-3  # 50 steps of ~lr each moved the weights
        torch.testing.assert_close(f, p, rtol=0, atol=1e-6)  # float32 rounding of ~50 steps, not a different rule
    # the first step by hand: bias corrections cancel, p1 = p0 - lr * g / (|g| + eps)
    p = torch.nn.Parameter(torch.tensor([0.5, -2.0]))
    p.grad = torch.tensor([4e-4, -1e-3])
    adam(params=[p], lr=0.1, eps=1e-4, fused=True).step()
    np.testing.assert_allclose(p.detach().numpy(), [0.5 - 0.1 * 4 / 5, -2.0 + 0.1 * 10 / 11], rtol=1e-6)


def test_auto_falls_back_where_torch_has_no_fused_kernel(monkeypatch):
    real = torch.optim.Adam

    def no_fused(params, *args, fused=None, **kwargs):  # what torch < 2.4 does for CPU parameters
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                               "devices: ['cuda'].")
        return real(params, *args, fused=fused, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    params = _params()
    assert not fused_adam_supported(params)
    assert not adam(params=params).param_groups[0]["fused"]
    with pytest.raises(RuntimeError, match="supported devices"):
        adam(params=params, fused=True)


def test_presets_build_fused_adam_and_the_key_turns_it_off():
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts

    for overrides, fused in [(["agent=rainbow"], True), (["agent=rainbow", "optim.fused=false"], False)]:
        parts = build_parts(compose("torch_threads=1", *overrides), torch.device("cpu"))
        assert bool(parts.agent.optimizer.param_groups[0]["fused"]) is fused


def test_a_fused_optimiser_checkpoint_resumes_bit_for_bit():
    params = _params()
    optimizer = adam(params=params, lr=1e-3, fused=True)
    _run(optimizer, params, 5)
    state = copy.deepcopy(optimizer.state_dict())  # as a checkpoint file holds it: no tensor shared
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    resumed = adam(params=clone, lr=1e-3, fused=True)
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(_run(optimizer, params, 5), _run(resumed, clone, 5)))


@pytest.mark.gpu
@pytest.mark.parametrize("on_device", [True, False])
def test_cuda_fused_adam_steps_with_counters_where_the_kernel_reads_them(on_device):
    from rlkit.agents.guarded_step import guarded_step, place_step_counters

    params = [torch.nn.Parameter(p.detach().cuda()) for p in _params()]
    optimizer = adam(params=params, lr=1e-3)
    assert optimizer.param_groups[0]["fused"]
    _run_cuda = [torch.randn_like(p) * 1e-3 for p in params]
    for p, g in zip(params, _run_cuda):
        p.grad = g
    optimizer.step()
    place_step_counters(optimizer, on_device=on_device)
    assert all(s["step"].device.type == "cuda" for s in optimizer.state.values())  # fused: never moved to the host
    before = [p.detach().clone() for p in params]
    guarded_step(optimizer, torch.tensor(False, device="cuda"))
    assert all(torch.equal(a, b) for a, b in zip(before, params))
    optimizer.step()
    assert not torch.equal(before[0], params[0])


def test_a_checkpoint_made_per_tensor_resumes_per_tensor_bit_for_bit():
    """torch restores an optimiser's settings with its state: a run checkpointed before fused Adam (or with
    optim.fused=false) continues with the per-tensor loop, so it equals its uninterrupted twin exactly."""
    params = _params()
    old = adam(params=params, lr=1e-3, fused=False)
    _run(old, params, 5)
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    resumed = adam(params=clone, lr=1e-3)  # auto: fused on this torch
    assert resumed.param_groups[0]["fused"] is True
    resumed.load_state_dict(copy.deepcopy(old.state_dict()))
    assert not resumed.param_groups[0]["fused"]
    assert all(torch.equal(a, b) for a, b in zip(_run(old, params, 5), _run(resumed, clone, 5)))
