"""An optimiser step that a flag on the device can cancel: a non-finite update without a host sync.

``guarded_step(optimizer, ok)`` saves the parameters and every optimiser-state tensor, steps, and
writes the saved values back where ``ok`` (a 0-d bool tensor on the device) is false, with
``torch.where``: the selected values are the old bits, so a cancelled step leaves parameters and
optimiser state bit-identical, for any optimiser whose state is tensors on the parameters' device
(adam, rmsprop, rmsprop_tf and most of ``torch.optim``). State the step creates (the first step's
moments and counters) is zeroed instead, which is how adam, rmsprop and rmsprop_tf initialise it.

Cost per update: one copy of the parameters and optimiser state (adam: 3x the parameters) and a
select over it, about 6 extra memory passes over that state and 2 small kernels per tensor: far
below a Nature-CNN update's passes over its batch, and no wait for the device.

torch's optimisers keep their step counters on the host unless ``capturable=True``; on CUDA
:func:`place_step_counters` turns it on so the counters are device tensors the select can restore
(Adam then computes its bias corrections on the device: the same steps within float32 round-off).
On the CPU every tensor is on the device already and the arithmetic is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch


def place_step_counters(optimizer: torch.optim.Optimizer, *, on_device: bool) -> None:
    """Keep torch's step counters on the parameters' device (``capturable``, CUDA only) or on the host.

    Called after building and after loading a state dict, so a checkpoint moves between both modes."""
    for group in optimizer.param_groups:
        if "capturable" not in group:  # not a torch optimiser with host-side counters
            continue
        capturable = on_device and all(p.device.type != "cpu" for p in group["params"])
        group["capturable"] = capturable
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if isinstance(state.get("step"), torch.Tensor):  # fused kernels read their counters on the device
                state["step"] = state["step"].to(param.device if capturable or group.get("fused") else "cpu")
    # capturable here means "counters on the device", not CUDA-graph capture: skip torch's advice about it
    optimizer._warned_capturable_if_run_uncaptured = True  # type: ignore[attr-defined]


@torch.no_grad()
def guarded_step(optimizer: torch.optim.Optimizer, ok: torch.Tensor) -> None:
    """``optimizer.step()`` if ``ok`` (0-d bool on the device), else nothing at all; never reads ``ok``."""
    before = _state_tensors(optimizer)
    saved = {key: tensor.clone() for key, tensor in before.items()}
    host_before = _host_state(optimizer)
    optimizer.step()
    if _host_state(optimizer) != host_before:
        raise TypeError(f"{type(optimizer).__name__} changed optimiser state held outside tensors, which a "
                        "device-side skip cannot restore: use sync_free=false")
    for key, tensor in _state_tensors(optimizer).items():
        if tensor.device != ok.device:
            raise TypeError(f"{type(optimizer).__name__} keeps {key[1]!r} on {tensor.device}, not on {ok.device}: "
                            "a device-side skip cannot restore it; use sync_free=false")
        old = saved.get(key)
        torch.where(ok, tensor, old if old is not None else tensor.new_zeros(()), out=tensor)


def _state_tensors(optimizer: torch.optim.Optimizer) -> dict[tuple[int, str], torch.Tensor]:
    """Parameters (key ``(i, "")``) and optimiser-state tensors (``(i, name)``), ``i`` the parameter's position."""
    found: dict[tuple[int, str], torch.Tensor] = {}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        found[(i, "")] = param.data
        for name, value in optimizer.state.get(param, {}).items():
            if isinstance(value, torch.Tensor):
                found[(i, str(name))] = value
    return found


def _host_state(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The optimiser state's values that are not tensors (compared before and after a step)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return [{k: v for k, v in optimizer.state.get(p, {}).items() if not isinstance(v, torch.Tensor)} for p in params]
