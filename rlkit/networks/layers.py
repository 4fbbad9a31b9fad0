"""Fully connected layers: plain linear and noisy linear (group ``network/layer``).

Each registered entry is a function returning a :data:`LayerFactory` ``(in_features,
out_features) -> nn.Module``; heads build every fully connected layer through it, so switching
``network/layer`` turns noisy exploration on or off for the whole head (as in Rainbow).

Noisy layers follow Fortunato et al. 2018, "Noisy Networks for Exploration" (ICLR):
``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b`` with learnable ``mu``/``sigma`` and
noise ``eps`` held in registered buffers, resampled only by an explicit :meth:`reset_noise`.

Factorised layers act through a low-rank path (Sec. 3.2 of the paper): with ``eps_w = f(eps_out) ⊗
f(eps_in)`` the noisy product is ``x @ mu_w^T + ((x * f(eps_in)) @ sigma_w^T) * f(eps_out)``, two
matmuls and no ``[out, in]`` temporaries; ``weight_epsilon`` itself is built only when read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rlkit.registry import register

LayerFactory = Callable[[int, int], nn.Module]
"""Builds one fully connected layer: ``factory(in_features, out_features)``."""


@dataclass(frozen=True)
class NoiseState:
    """One noise sample of a :class:`NoisyLinear`, as :meth:`NoisyLinear.noise_state` saves it.

    ``bias_epsilon`` [out], and either ``weight_epsilon`` [out, in] or, for a fresh factorised sample
    (Fortunato et al. 2018, Sec. 3.2), only its input factor ``noise_in = f(eps_in)`` [in]: the output
    factor ``f(eps_out)`` is ``bias_epsilon`` and ``weight_epsilon = bias_epsilon ⊗ noise_in``.
    """

    bias_epsilon: torch.Tensor
    weight_epsilon: torch.Tensor | None = None
    noise_in: torch.Tensor | None = None


class NoisyLinear(nn.Module):
    """Base class of noisy linear layers; subclasses define initialisation and noise sampling.

    ``use_mean=True`` makes the layer deterministic (weights ``mu`` only), for evaluation; it is
    independent of ``train()``/``eval()``. With autograd disabled (acting, target evaluation) the
    effective weights ``mu + sigma * eps`` are built once per noise sample and cached; the cache
    is keyed on the noise sample and on the version counters and storage of every parameter and
    noise buffer, so an optimizer step, ``load_state_dict`` or ``reset_noise`` invalidates it.
    In-place writes through ``.data`` bypass version counters: call :meth:`clear_cache` after them.
    With autograd enabled the weights are always recomputed so ``sigma`` receives gradient.

    Subclasses may keep a noise sample in factored form and build the ``weight_epsilon`` buffer
    [out, in] only when something reads it (:meth:`_materialise_noise`): the attribute, a forward
    with autograd enabled, :meth:`noisy_weights`, ``state_dict()`` and ``.to()`` all see the
    current sample. Only code that reaches into ``_buffers`` (``named_buffers()``) may see a stale
    tensor. Change noise only through :meth:`reset_noise`, :meth:`restore_noise` and
    :meth:`load_noise_state`, not by writing into the buffers.
    """

    bias_epsilon: torch.Tensor

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))  # [out, in]
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))  # [out, in]
        self.bias_mu = nn.Parameter(torch.empty(out_features))  # [out]
        self.bias_sigma = nn.Parameter(torch.empty(out_features))  # [out]
        self.register_buffer("weight_epsilon", torch.zeros(out_features, in_features))
        self.register_buffer("bias_epsilon", torch.zeros(out_features))
        self.use_mean = False
        self._noise_version = 0
        self._cache: tuple[tuple[int, ...], torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()
        self.reset_noise()

    # -- subclass hooks -------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Initialise ``mu`` and ``sigma`` (paper-specific)."""
        raise NotImplementedError

    def _sample_noise(self, generator: torch.Generator | None) -> None:
        """Write fresh noise into ``weight_epsilon`` [out, in] and ``bias_epsilon`` [out]."""
        raise NotImplementedError

    def _materialise_noise(self) -> None:
        """Bring the ``weight_epsilon`` buffer up to date with the current sample (default: it is)."""

    def _forget_factors(self) -> None:
        """The buffers were overwritten with a sample that may not be factorised (default: no-op)."""

    @property
    def weight_epsilon(self) -> torch.Tensor:
        """Weight noise [out, in] of the current sample, built first if it was kept factored."""
        buffer = self.__dict__.get("_buffers", {}).get("weight_epsilon")
        if buffer is None:  # before registration: lets register_buffer and hasattr work
            raise AttributeError("weight_epsilon")
        self._materialise_noise()
        return self._buffers["weight_epsilon"]

    # -- noise ----------------------------------------------------------------------------------
    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Resample the noise buffers in place (optionally from ``generator``, on any device)."""
        self._sample_noise(generator)
        self._noise_version += 1
        self._cache = None

    @torch.no_grad()
    def restore_noise(self, weight_epsilon: torch.Tensor, bias_epsilon: torch.Tensor) -> None:
        """Put back noise saved from ``weight_epsilon``/``bias_epsilon`` (e.g. after an evaluation).

        The tensor may be any [out, in] sample, so a factorised layer forgets its factors and
        evaluates through the built weights until the next :meth:`reset_noise`; use
        :meth:`noise_state`/:meth:`load_noise_state` to keep them.
        """
        self._buffers["weight_epsilon"].copy_(weight_epsilon)
        self.bias_epsilon.copy_(bias_epsilon)
        self._forget_factors()
        self._noise_version += 1
        self._cache = None

    def noise_state(self) -> NoiseState:
        """A copy of the current noise sample (factored when the subclass holds it so)."""
        return NoiseState(bias_epsilon=self.bias_epsilon.clone(), weight_epsilon=self.weight_epsilon.clone())

    def load_noise_state(self, state: NoiseState) -> None:
        """Put back a sample saved by :meth:`noise_state` (of a layer of the same shape and kind)."""
        if state.weight_epsilon is None:
            raise ValueError(f"{type(self).__name__} needs weight_epsilon in its noise state")
        self.restore_noise(state.weight_epsilon, state.bias_epsilon)

    def clear_cache(self) -> None:
        """Drop the cached no-grad weights (only needed after writes through ``.data``)."""
        self._cache = None

    def _fill_normal(self, buffer: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Fill ``buffer`` with N(0, 1) draws from ``generator`` (which may live on another device)."""
        if generator is None or generator.device == buffer.device:
            return buffer.normal_(generator=generator)
        draws = torch.randn(buffer.shape, generator=generator, device=generator.device, dtype=buffer.dtype)
        return buffer.copy_(draws)

    # -- forward --------------------------------------------------------------------------------
    def noisy_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective ``(weight [out, in], bias [out])`` for the current noise sample."""
        weight = self.weight_mu + self.weight_sigma * self.weight_epsilon
        bias = self.bias_mu + self.bias_sigma * self.bias_epsilon
        return weight, bias

    def _cache_key(self) -> tuple[int, ...]:
        key = [self._noise_version]
        for t in (
            self.weight_mu,
            self.weight_sigma,
            self.bias_mu,
            self.bias_sigma,
            self.weight_epsilon,
            self.bias_epsilon,
        ):
            key += (t._version, t.data_ptr())
        return tuple(key)

    def _cached_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        key = self._cache_key()
        if self._cache is None or self._cache[0] != key:
            weight, bias = self.noisy_weights()
            self._cache = (key, weight, bias)
        return self._cache[1], self._cache[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in] -> [B, out]
        if self.use_mean:
            return F.linear(x, self.weight_mu, self.bias_mu)
        if torch.is_grad_enabled():
            weight, bias = self.noisy_weights()
        else:
            weight, bias = self._cached_weights()
        return F.linear(x, weight, bias)

    # -- diagnostics ----------------------------------------------------------------------------
    @torch.no_grad()
    def snr_tensor(self) -> torch.Tensor:
        """Signal-to-noise ratio ``RMS(mu) / RMS(sigma)`` over weights and biases, as a tensor."""
        mu = torch.cat([self.weight_mu.flatten(), self.bias_mu])
        sigma = torch.cat([self.weight_sigma.flatten(), self.bias_sigma])
        return mu.square().mean().sqrt() / sigma.square().mean().sqrt()

    def snr(self) -> float:
        """Signal-to-noise ratio ``RMS(mu) / RMS(sigma)`` over weights and biases."""
        return float(self.snr_tensor().item())

    # -- module plumbing ------------------------------------------------------------------------
    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> NoisyLinear:
        self._cache = None  # .to(), .cuda(), .half() ... replace the tensors
        self._materialise_noise()  # built in the old dtype, as an eager sample would have been
        return super()._apply(fn, *args, **kwargs)

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        self._materialise_noise()  # checkpoints hold the full [out, in] sample, as always
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self._materialise_noise()  # a buffer missing from a non-strict load keeps the current sample
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._forget_factors()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None  # never pickle / deep-copy derived weights
        return state

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class FactorisedNoisyLinear(NoisyLinear):
    """Factorised Gaussian noise (Fortunato et al. 2018, Sec. 3.2), used by Rainbow.

    ``eps_w = f(eps_out) ⊗ f(eps_in)``, ``eps_b = f(eps_out)``, ``f(x) = sgn(x) sqrt|x|``;
    ``mu ~ U[-1/sqrt(p), 1/sqrt(p)]``, ``sigma = sigma0 / sqrt(p)`` with ``p = in_features``.

    A sample is kept as its factors: ``noise_in = f(eps_in)`` [in] (a non-persistent buffer) and
    ``bias_epsilon = f(eps_out)`` [out]; ``weight_epsilon`` [out, in] is written from them only when
    read (see :class:`NoisyLinear`), bit for bit what an eager ``torch.outer`` writes. Acting
    (inference mode, no ``use_mean``, ``low_rank_acting``) with a fresh factorised sample skips it:
    ``y = x @ mu_w^T + ((x * f(eps_in)) @ sigma_w^T) * f(eps_out) + mu_b + sigma_b * f(eps_out)``
    (Fortunato et al. 2018, Sec. 3.2), equal to the built-weight forward up to float rounding.
    Passes with plain ``torch.no_grad()`` (target and double-DQN selection) and with autograd keep
    the built weights, so learning is unchanged bit for bit.
    """

    noise_in: torch.Tensor

    def __init__(self, in_features: int, out_features: int, *, sigma0: float = 0.5) -> None:
        if sigma0 < 0:
            raise ValueError(f"sigma0 must be non-negative, got {sigma0}")
        self.sigma0 = sigma0
        self.low_rank_acting = True  # False: act through the built weights (for comparisons)
        self._factored = False  # the sample is bias_epsilon ⊗ noise_in
        self._weight_stale = False  # ... and the weight_epsilon buffer is not written yet
        super().__init__(in_features, out_features)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight_mu.uniform_(-bound, bound)
        self.bias_mu.uniform_(-bound, bound)
        self.weight_sigma.fill_(self.sigma0 / math.sqrt(self.in_features))
        self.bias_sigma.fill_(self.sigma0 / math.sqrt(self.in_features))

    @staticmethod
    def scale_noise(x: torch.Tensor) -> torch.Tensor:
        """``f(x) = sgn(x) sqrt(|x|)``."""
        return x.sign() * x.abs().sqrt()

    def _sample_noise(self, generator: torch.Generator | None) -> None:
        eps_in = self.scale_noise(self._fill_normal(self.bias_epsilon.new_empty(self.in_features), generator))
        eps_out = self.scale_noise(self._fill_normal(self.bias_epsilon.new_empty(self.out_features), generator))
        self.bias_epsilon.copy_(eps_out)  # [out]
        if "noise_in" in self._buffers:
            self.noise_in.copy_(eps_in)  # [in]
        else:  # the first sample, from NoisyLinear.__init__
            self.register_buffer("noise_in", eps_in, persistent=False)
        self._factored = self._weight_stale = True  # weight_epsilon = outer(eps_out, eps_in) when read

    @torch.no_grad()
    def _materialise_noise(self) -> None:
        if self._weight_stale:
            self._weight_stale = False
            torch.outer(self.bias_epsilon, self.noise_in, out=self._buffers["weight_epsilon"])  # [out, in], rank 1

    def _forget_factors(self) -> None:
        self._factored = self._weight_stale = False

    def noise_state(self) -> NoiseState:
        if not self._factored:
            return super().noise_state()
        return NoiseState(bias_epsilon=self.bias_epsilon.clone(), noise_in=self.noise_in.clone())

    @torch.no_grad()
    def load_noise_state(self, state: NoiseState) -> None:
        if state.noise_in is None:
            super().load_noise_state(state)
            return
        self.bias_epsilon.copy_(state.bias_epsilon)
        self.noise_in.copy_(state.noise_in)
        self._factored = self._weight_stale = True
        self._noise_version += 1
        self._cache = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in] -> [B, out]
        if self._factored and self.low_rank_acting and not self.use_mean and torch.is_inference_mode_enabled():
            return self._low_rank_forward(x)
        return super().forward(x)

    def _low_rank_forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in] -> [B, out]
        """``x @ (mu_w + sigma_w * outer(f_out, f_in))^T + b`` as two matmuls (Fortunato et al. 2018,
        Sec. 3.2): ``x @ mu_w^T + ((x * f_in) @ sigma_w^T) * f_out + b``, with ``f_out = bias_epsilon``."""
        bias = self.bias_mu + self.bias_sigma * self.bias_epsilon  # [out], as in noisy_weights
        noise = F.linear(x * self.noise_in, self.weight_sigma)  # [B, out]
        return torch.addcmul(F.linear(x, self.weight_mu, bias), noise, self.bias_epsilon)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sigma0={self.sigma0}"


class IndependentNoisyLinear(NoisyLinear):
    """Independent Gaussian noise per weight and bias (Fortunato et al. 2018, Sec. 3.2).

    ``mu ~ U[-sqrt(3/p), sqrt(3/p)]``, ``sigma = 0.017`` (the paper's value for DQN).
    """

    def __init__(self, in_features: int, out_features: int, *, sigma: float = 0.017) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {sigma}")
        self.sigma_init = sigma
        super().__init__(in_features, out_features)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        bound = math.sqrt(3.0 / self.in_features)
        self.weight_mu.uniform_(-bound, bound)
        self.bias_mu.uniform_(-bound, bound)
        self.weight_sigma.fill_(self.sigma_init)
        self.bias_sigma.fill_(self.sigma_init)

    def _sample_noise(self, generator: torch.Generator | None) -> None:
        self._fill_normal(self.weight_epsilon, generator)  # [out, in]
        self._fill_normal(self.bias_epsilon, generator)  # [out]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sigma={self.sigma_init}"


@register("network/layer", "linear")
def linear() -> LayerFactory:
    """Plain ``nn.Linear`` layers (no parameter noise)."""
    return nn.Linear


@register("network/layer", "noisy_factorised")
def noisy_factorised(*, sigma0: float = 0.5) -> LayerFactory:
    """Factorised-noise layers (Fortunato et al. 2018; Rainbow uses ``sigma0 = 0.5``)."""

    def factory(in_features: int, out_features: int) -> nn.Module:
        return FactorisedNoisyLinear(in_features, out_features, sigma0=sigma0)

    return factory


@register("network/layer", "noisy_independent")
def noisy_independent(*, sigma: float = 0.017) -> LayerFactory:
    """Independent-noise layers (Fortunato et al. 2018, ``sigma = 0.017`` for DQN)."""

    def factory(in_features: int, out_features: int) -> nn.Module:
        return IndependentNoisyLinear(in_features, out_features, sigma=sigma)

    return factory
