"""One value-based agent assembled from parts.

DQN (Mnih et al. 2015), Double DQN, Dueling, PER, C51, NoisyNet and Rainbow (Hessel et al. 2018)
are all this class: what differs is the network (torso, head, layer), the exploration strategy,
the target rule and the loss it is given. Replay and n-step accumulation live in the training loop.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from rlkit.agents.guarded_step import guarded_step, place_step_counters
from rlkit.augmentation import Augmentation, NoAugmentation
from rlkit.losses.base import LearnerNetworks, Loss
from rlkit.networks.layers import NoisyLinear
from rlkit.networks.model import QNetwork
from rlkit.networks.noise import NoiseControl
from rlkit.registry import register
from rlkit.types import Batch, LossOutput

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A NaN or infinite loss; raised before it reaches the weights."""


LOSS_METRIC = "losses/td_loss"  # the loss, as the agent reports it among the metrics


def non_finite_message(loss: float, update: int) -> str:
    """What :class:`NonFiniteLossError` says about update number ``update`` (1-based)."""
    return f"the loss is {loss} at update {update}; weights left unchanged"


@register("agent", "dqn")
class DQNAgent:
    """Acts (epsilon or noise) and learns from replay batches; holds online and target networks."""

    def __init__(
        self,
        *,
        network: QNetwork,
        optimizer_factory: Any,
        loss: Loss,
        target_rule: Any,
        exploration: Any,
        device: torch.device,
        num_actions: int,
        seed: int = 0,
        target_update_every_steps: int = 8_000,
        tau: float = 1.0,
        max_grad_norm: float | None = 10.0,
        noise: dict[str, bool] | None = None,
        augmentation: Augmentation | None = None,
    ) -> None:
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"agent.tau must be in (0, 1] (1 = hard target update), got {tau}")
        if target_update_every_steps < 1:
            raise ValueError(f"agent.target_update_every_steps must be >= 1, got {target_update_every_steps}")
        self.device = device
        self.online = network.to(device)
        self.target = copy.deepcopy(self.online).to(device)
        self.target.requires_grad_(False)
        self.optimizer = optimizer_factory(self.online.parameters())
        self.loss = loss
        self.target_rule = target_rule
        self.exploration = exploration
        self.target_update_every_steps = target_update_every_steps
        self.tau = tau
        self.max_grad_norm = max_grad_norm
        self.noise = NoiseControl(**(noise or {}))
        self.augmentation: Augmentation = augmentation if augmentation is not None else NoAugmentation()
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)
        # quantile fractions (IQN) for every pass, acting and learning; checkpointed with the agent
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self._seed = seed
        self.updates = 0  # updates run (with sync_free, skipped non-finite ones included)
        self.sync_free = False  # see set_sync_free
        self.last_target_sync_step = 0
        self._noisy: tuple[QNetwork | None, tuple[NoisyLinear, ...]] = (None, ())  # (network, its noisy layers)
        self._pinned: torch.Tensor | None = None  # page-locked staging buffer for observations bound to CUDA
        self._acting: QNetwork | None = None  # the actor's copy of `online` (use_acting_copy), else None
        self._acting_updates = 0  # updates in the copy's weights
        self._acting_lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._acting_stream: torch.cuda.Stream | None = None  # CUDA, with the copy: the actor's own stream
        self._published: torch.cuda.Event | None = None  # CUDA: recorded after publish()'s copy

    # ----------------------------------------------------------------------------- acting
    @property
    def acting_network(self) -> QNetwork:
        """The network that chooses actions: ``online``, or its copy when the learner runs in a thread."""
        return self.online if self._acting is None else self._acting

    def use_acting_copy(self) -> None:
        """Act with a copy of the online network that :meth:`publish` refreshes, so a learner thread can
        update ``online`` while the actor acts (:mod:`rlkit.training.learner_thread`)."""
        self._acting = copy.deepcopy(self.online).requires_grad_(False)
        self._acting_lock = threading.Lock()
        self._acting_updates = self.updates
        if self.device.type == "cuda":  # the actor's passes must not queue behind the learner's kernels
            self._acting_stream = torch.cuda.Stream(self.device)
            self._mark_published()  # the copy above runs on this thread's stream: the actor's first pass waits for it

    @property
    def acting_updates(self) -> int:
        """Updates the acting network's weights include (``updates`` unless a learner thread runs)."""
        return self.updates if self._acting is None else self._acting_updates

    @torch.no_grad()
    def publish(self) -> None:
        """Copy the online network's parameters into the actor's copy (no-op without one). Buffers stay:
        they are constants (C51's support) or the actor's own parameter noise."""
        if self._acting is None:
            return
        with self._acting_lock:  # the actor's pass (and, on CUDA, its stream's work) is over
            torch._foreach_copy_(list(self._acting.parameters()), list(self.online.parameters()))
            self._acting_updates = self.updates
            self._mark_published()

    def _mark_published(self) -> None:
        """CUDA with an acting copy: record an event on the calling thread's stream, after the work queued there
        that wrote the copy; the actor's next pass waits for it."""
        if self._acting_stream is not None:
            self._published = torch.cuda.Event()
            self._published.record()

    @contextlib.contextmanager
    def _acting_pass(self) -> Iterator[None]:
        """The actor's noise draws and forward pass. Learner thread: under the lock :meth:`publish` takes;
        on CUDA, on the actor's stream, after the last publish's copy, and finished before the lock goes."""
        with self._acting_lock:
            stream = self._acting_stream
            if stream is None:
                yield
                return
            if self._published is not None:
                stream.wait_event(self._published)
            with torch.cuda.stream(stream):
                yield
            stream.synchronize()

    def act(self, obs: np.ndarray, step: int) -> np.ndarray:
        """Actions [E] for a batch of observations [E, *obs_shape] at agent step ``step``."""
        return self._act(obs, self.exploration.epsilon(step), use_mean=False, resample=self.noise.resample_on_act)

    @contextlib.contextmanager
    def evaluating(self, seed: int) -> Iterator[None]:
        """Evaluate with random numbers of its own: inside, exploration draws come from a generator
        seeded with ``seed`` and noise from torch's generators reseeded with it; on exit, the agent's
        generator, torch's generators and the acting network's noise are as they were. So evaluation
        never changes training: the same run evaluated more or less often learns the same weights."""
        layers = self._noisy_layers()
        with self._acting_pass():  # on CUDA, in order with the actor's own noise draws (its stream)
            noise = [layer.noise_state() for layer in layers]  # factored samples stay factored (fast acting)
        saved_rng, saved_generator = self.rng, self.generator.get_state()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self.rng = np.random.default_rng(seed)
            self.generator.manual_seed(seed)
            try:
                yield
            finally:
                self.rng = saved_rng
                self.generator.set_state(saved_generator)
                with self._acting_pass():  # the next training pass must not start before the noise is back
                    for layer, state in zip(layers, noise):
                        layer.load_noise_state(state)

    def act_eval(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Evaluation actions: eval epsilon; noise resampled per step, or the mean weights."""
        return self._act(obs, epsilon, use_mean=self.noise.eval_mean, resample=not self.noise.eval_mean)

    def _noisy_layers(self) -> tuple[NoisyLinear, ...]:
        """The acting network's noisy layers, found once per network instead of on every action."""
        network, layers = self._noisy
        if network is not self.acting_network:
            layers = tuple(layer for _, layer in self.acting_network.noisy_layers())
            self._noisy = (self.acting_network, layers)
        return layers

    def _reset_acting_noise(self) -> None:
        """``acting_network.reset_noise()`` without walking the module tree (same draws, same order)."""
        for layer in self._noisy_layers():
            layer.reset_noise()

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """``obs`` on the device, in its own dtype (uint8 frames become floats inside the torso).

        CPU: no copy. CUDA: through a reused page-locked buffer with an asynchronous copy; the
        buffer is free again when ``_act`` returns, since reading the actions waits for the stream.
        """
        host = torch.from_numpy(obs) if isinstance(obs, np.ndarray) else torch.as_tensor(obs)
        if self.device.type != "cuda":
            return host.to(self.device)
        if self._pinned is None or self._pinned.shape != host.shape or self._pinned.dtype != host.dtype:
            self._pinned = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
        self._pinned.copy_(host)
        return self._pinned.to(self.device, non_blocking=True)

    def _act(self, obs: np.ndarray, epsilon: float, *, use_mean: bool, resample: bool) -> np.ndarray:
        """Epsilon-greedy actions; ``resample``: new parameter noise first (drawn even if every env explores)."""
        with self._acting_pass():
            if resample:
                self._reset_acting_noise()
            num = obs.shape[0]
            explore = self.rng.random(num) < epsilon  # [E]
            random_actions = self.rng.integers(self.num_actions, size=num)
            if explore.all():
                return random_actions
            layers = self._noisy_layers()
            for layer in layers:
                layer.use_mean = use_mean
            try:
                with torch.inference_mode():  # no autograd state at all; the kernels (and q-values) are unchanged
                    q = self.acting_network.q_values(self._obs_tensor(obs), "act", self.generator)  # [E, A]
                    greedy = q.argmax(dim=1).cpu().numpy()  # [E]
            finally:
                for layer in layers:
                    layer.use_mean = False
        return np.where(explore, random_actions, greedy).astype(np.int64)

    # ---------------------------------------------------------------------------- learning
    def set_sync_free(self, enabled: bool) -> None:
        """Sync-free updates (``sync_free`` in the config) on or off; see :meth:`update`."""
        self.sync_free = enabled
        place_step_counters(self.optimizer, on_device=enabled)

    def update(self, batch: Batch) -> LossOutput:
        """One gradient step on ``batch``; returns the loss value with PER priorities and metrics.

        The batch's observations pass through the augmentation first (DrQ, Kostrikov et al. 2020:
        ``obs`` and ``next_obs``); actions, rewards, discounts, IS weights and indices are untouched.

        By default the loss, metrics and gradient norm are read in one device sync, and a non-finite
        loss raises :class:`NonFiniteLossError` before the optimiser step. With :attr:`sync_free` the
        update reads nothing: the metrics come back as 0-d device tensors, and a non-finite loss
        cancels the optimiser step on the device (:func:`~rlkit.agents.guarded_step.guarded_step`):
        that update changes neither the weights nor the optimiser state, and nothing is raised here.
        The training loop finds it in the metrics it reads at its next log and stops the run there,
        not at once; updates in between go on from the unchanged weights.
        """
        batch = self.augmentation(batch)
        self.online.train()
        self.noise.begin_update(self.online, self.target)
        nets = LearnerNetworks(online=self.online, target=self.target, target_rule=self.target_rule,
                               noise=self.noise, generator=self.generator)
        out = self.loss(nets, batch)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        names = [LOSS_METRIC, *out.metrics]
        loss = out.loss.detach()
        scalars = [loss, *(torch.as_tensor(v, device=loss.device).detach().to(loss.dtype).reshape(())
                           for v in out.metrics.values())]
        if self.max_grad_norm is not None and self.max_grad_norm > 0:
            names.append("losses/grad_norm")
            scalars.append(torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.max_grad_norm).to(loss.dtype))
        stacked = torch.stack(scalars)  # [K]
        if self.sync_free:
            guarded_step(self.optimizer, torch.isfinite(loss))
            out.metrics = dict(zip(names, stacked.unbind(), strict=True))
        else:
            values = stacked.tolist()  # the update's one device sync: loss, metrics, gradient norm
            if not math.isfinite(values[0]):  # checked before the optimiser step: the weights stay as they were
                raise NonFiniteLossError(non_finite_message(values[0], self.updates + 1))
            out.metrics = dict(zip(names, values, strict=True))
            self.optimizer.step()
        self.updates += 1
        return out

    def compile_networks(self) -> None:
        """``torch.compile`` the online and target networks in place (``nn.Module.compile``: parameter
        names, checkpoints and results stay as they are; the first passes pay the compilation)."""
        self.online.compile()
        self.target.compile()
        if self._acting is not None:
            self._acting.compile()

    def maybe_sync_target(self, step: int) -> bool:
        """Hard (tau = 1) or Polyak (tau < 1) target update every ``target_update_every_steps``."""
        if step - self.last_target_sync_step < self.target_update_every_steps:
            return False
        self.sync_target()
        self.last_target_sync_step = step - (step - self.last_target_sync_step) % self.target_update_every_steps
        return True

    @torch.no_grad()
    def sync_target(self) -> None:
        if self.tau >= 1.0:
            self.target.load_state_dict(self.online.state_dict())
            return
        for tgt, src in zip(self.target.parameters(), self.online.parameters()):
            tgt.lerp_(src, self.tau)

    def metrics(self) -> dict[str, float]:
        """Noise signal-to-noise ratios of the online network (empty without noisy layers)."""
        return self.online.snr_metrics()

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "updates": self.updates,
            "last_target_sync_step": self.last_target_sync_step,
            "noise": asdict(self.noise),
            "augmentation": self.augmentation.state_dict(),
            "generator": self.generator.get_state(),
        }

    def _restore_generator(self, saved: torch.Tensor) -> None:
        """Put back the generator's state; one saved on the other device type (CPU's Mersenne Twister and CUDA's
        Philox states differ) cannot continue here: the generator then restarts from a seed made of the run's seed
        and the update count, with a warning. A run moved between CPU and CUDA is not bit-exact anyway."""
        if saved.numel() == self.generator.get_state().numel():
            self.generator.set_state(saved)
            return
        seed = int(np.random.SeedSequence([self._seed, self.updates]).generate_state(1)[0])
        log.warning("the checkpoint's random generator was saved on another device type than this run's (%s): it "
                    "restarts from seed %d (seed %d, update %d); the run continues, not bit-exact",
                    self.device.type, seed, self._seed, self.updates)
        self.generator.manual_seed(seed)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        place_step_counters(self.optimizer, on_device=self.sync_free)  # saved by a run of the other mode
        self.rng.bit_generator.state = state["rng"]
        self.updates = int(state["updates"])
        self.last_target_sync_step = int(state["last_target_sync_step"])
        if "augmentation" in state:  # checkpoints written before augmentations existed hold none
            self.augmentation.load_state_dict(state["augmentation"])
        if "generator" in state:  # nor before quantile fractions were drawn
            self._restore_generator(state["generator"].cpu())
        self.publish()
