"""Optimisers (registry group ``optim``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from rlkit.registry import register


@register("optim", "adam")
def adam(
    *,
    params: Iterable[torch.nn.Parameter],
    lr: float = 1e-4,
    eps: float = 1.5e-4,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    fused: bool | None = None,
) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015); Rainbow uses lr 6.25e-5, eps 1.5e-4 (Hessel et al. 2018, Table 1).

    ``fused``: torch's one-kernel Adam (the same update up to float rounding; on a CPU core it steps the
    presets' networks 2.3-3.5x faster than the per-tensor loop torch uses there by default).
    ``None`` (auto): fused where this torch build supports it for the parameters' device (CPU from
    torch 2.4, CUDA), else torch's default; ``True``: fused or torch's error; ``False``: torch's default.
    """
    params = list(params)
    kwargs = {"lr": lr, "eps": eps, "betas": tuple(betas), "weight_decay": weight_decay}
    if fused is None:
        fused = fused_adam_supported(params)
    return torch.optim.Adam(params, fused=fused, **kwargs)


def fused_adam_supported(params: Iterable[torch.nn.Parameter]) -> bool:
    """Whether this torch build has a fused Adam kernel for every parameter (device and dtype)."""
    try:
        kinds = {(p.device, p.dtype) for p in params}
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1, dtype=dtype, device=device)) for device, dtype in kinds],
                         fused=True)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


@register("optim", "rmsprop")
def rmsprop(
    *,
    params: Iterable[torch.nn.Parameter],
    lr: float = 2.5e-4,
    alpha: float = 0.95,
    eps: float = 0.01,
    momentum: float = 0.0,
    centered: bool = True,
) -> torch.optim.RMSprop:
    """torch's centred RMSProp, eps *outside* the root: ``lr g / (sqrt(ms - mg^2) + eps)``. The DQN papers'
    RMSProp puts it inside (``rmsprop_tf``, :class:`RMSpropEpsInSqrt`)."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered)


@register("optim", "rmsprop_tf")
class RMSpropEpsInSqrt(torch.optim.Optimizer):
    """RMSProp with ``eps`` inside the square root, as DeepMind's DQN agents used it.

    Centred (Graves 2013; the Nature DQN, Mnih et al. 2015, "min squared gradient" 0.01):
    ``ms = a ms + (1 - a) g^2``, ``mg = a mg + (1 - a) g``, ``step = lr g / sqrt(ms - mg^2 + eps)``;
    uncentred: ``step = lr g / sqrt(ms + eps)`` (TensorFlow's ``RMSPropOptimizer``). With momentum
    ``m``: ``buf = m buf + step``, the parameter moves by ``-buf``. ``torch.optim.RMSprop`` adds
    ``eps`` outside the root instead (``lr g / (sqrt(v) + eps)``): with gradients around 1e-3 and
    eps 0.01 the two steps differ about 9x.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        *,
        lr: float = 2.5e-4,
        alpha: float = 0.95,
        eps: float = 0.01,
        momentum: float = 0.0,
        centered: bool = True,
    ) -> None:
        if not lr > 0.0 or not 0.0 <= alpha < 1.0 or not eps > 0.0 or not 0.0 <= momentum < 1.0:
            raise ValueError(f"rmsprop_tf needs lr > 0, 0 <= alpha < 1, eps > 0, 0 <= momentum < 1; got "
                             f"lr={lr}, alpha={alpha}, eps={eps}, momentum={momentum}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum, "centered": centered})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), device=param.device)  # a tensor: a device-side skip restores it
                    state["square_avg"] = torch.zeros_like(param)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(param)
                    if momentum > 0:
                        state["momentum_buffer"] = torch.zeros_like(param)
                step = state["step"]
                if not isinstance(step, torch.Tensor) or step.device != param.device:  # an older or moved checkpoint
                    state["step"] = torch.as_tensor(step, dtype=torch.float32).to(param.device)
                state["step"] += 1
                square_avg = state["square_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                if group["centered"]:
                    grad_avg = state["grad_avg"].mul_(alpha).add_(grad, alpha=1 - alpha)
                    denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).add_(eps).sqrt_()
                else:
                    denom = square_avg.add(eps).sqrt_()
                if momentum > 0:
                    buf = state["momentum_buffer"].mul_(momentum).addcdiv_(grad, denom, value=lr)
                    param.sub_(buf)
                else:
                    param.addcdiv_(grad, denom, value=-lr)
        return loss
