"""A run's checkpoints: when they are written, what they hold, whether they fit, resuming from one.

The on-disk format is :mod:`rlkit.training.checkpoint`; this module decides the contents.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rlkit import registry
from rlkit.envs.state import vector_env_state
from rlkit.training import checkpoint as ckpt
from rlkit.training.builder import Parts
from rlkit.training.cadence import Cadence
from rlkit.training.episodes import EpisodeTracker
from rlkit.training.run_state import LoopState, RunClock
from rlkit.utils.runtime import rng_state, set_rng_state

log = logging.getLogger(__name__)


class RunCheckpoints:
    """The ``checkpoint.*`` policy of one run (cadence, how many to keep, with or without replay) and
    the contents of its checkpoints: counters, parts, RNGs, env and logger states."""

    def __init__(self, cfg: DictConfig, parts: Parts, run_dir: Path, clock: RunClock) -> None:
        self.cfg, self.parts, self.run_dir, self.clock = cfg, parts, run_dir, clock
        ccfg = cfg.get("checkpoint") or {}
        self.cadence = Cadence(int(ccfg.get("every", 0) or 0))
        self.keep_last = int(ccfg.get("keep_last", 2))
        self.include_replay = bool(ccfg.get("replay", True))
        self.keep_after_finish = bool(ccfg.get("keep_after_finish", False))
        self.last: Path | None = None

    def compat(self) -> dict[str, Any]:
        """Settings a checkpoint must share with the run that loads it."""
        cfg, spec = self.cfg, self.parts.env_maker.spec
        return {
            "env": str(cfg.env.get("id", cfg.env.get("name"))),
            "obs_shape": list(spec.obs_shape),
            "obs_dtype": np.dtype(spec.obs_dtype).name,
            "num_actions": int(spec.num_actions),
            "num_envs": int(self.parts.env_maker.num_envs),
            "network": self._network_identity(),
            "replay.storage": OmegaConf.to_container(cfg.replay.storage, resolve=True),
            "replay.sampler": str(cfg.replay.sampler.name),
            "replay.capacity": int(cfg.replay.capacity),
            "agent.n_step": int(cfg.agent.n_step),
            "agent.gamma": float(cfg.agent.gamma),
        }

    def _network_identity(self) -> dict[str, Any]:
        """The network's config with each part's default-valued arguments left out, so a checkpoint
        still fits after a version that adds arguments (defaulting to the old behaviour) to a part."""
        network = OmegaConf.to_container(self.cfg.network, resolve=True)
        assert isinstance(network, dict)
        for part in ("torso", "head", "layer"):
            if isinstance(network.get(part), dict):
                network[part] = registry.without_defaults(f"network/{part}", network[part])
        head = network.get("head")
        if isinstance(head, dict) and isinstance(head.get("output"), dict):
            head["output"] = registry.without_defaults("network/output", head["output"])
        return network

    def state_dict(self, state: LoopState, tracker: EpisodeTracker, pending: MutableMapping[str, list[float]], *,
                   obs: np.ndarray | None = None, envs: Any = None, loggers: Any = None,
                   in_flight: np.ndarray | None = None) -> dict[str, Any]:
        """Everything a resumed run needs: counters, parts, RNGs, env states, logger states."""
        saved: dict[str, Any] = {
            "compat": self.compat(),
            "torch": {"agent": self.parts.agent.state_dict()},
            "loop": state.state_dict(),
            "next_checkpoint_step": self.cadence.next_step,
            "episodes": tracker.state_dict(),
            "pending_metrics": {key: list(values) for key, values in pending.items()},
            "rng": rng_state(),
            "loggers": loggers.state_dict() if loggers is not None else {},
            "obs": obs,
            "env": vector_env_state(envs) if envs is not None else None,
            "in_flight": in_flight,  # pipelined acting: the actions of the envs' step in flight (rlkit.training.stepping)
        }
        if self.include_replay:
            saved["replay"] = self.parts.replay.state_dict()
        return saved

    def save(self, state: LoopState, tracker: EpisodeTracker, pending: MutableMapping[str, list[float]], *,
             obs: np.ndarray, envs: Any, loggers: Any, in_flight: np.ndarray | None = None) -> Path:
        """Write a checkpoint at ``state.step``; its seconds count as a pause of the run's clock."""
        self.clock.account(state)
        start = time.perf_counter()
        saved = self.state_dict(state, tracker, pending, obs=obs, envs=envs, loggers=loggers, in_flight=in_flight)
        path = ckpt.save_checkpoint(self.run_dir, state.step, saved, keep_last=self.keep_last)
        self.last = path
        seconds = time.perf_counter() - start
        self.clock.pause(seconds)
        log.info("checkpoint at step %d: %s (%.1f s)", state.step, path, seconds)
        return path

    def resume_point(self) -> ckpt.CheckpointInfo | None:
        """The checkpoint ``resume`` names: none (``never``), the run dir's newest (``auto``) or a path."""
        setting = str(self.cfg.get("resume", "auto") or "auto")
        if setting == "never":
            return None
        if setting == "auto":
            ckpt.remove_partial(self.run_dir)
            return ckpt.latest_checkpoint(self.run_dir)
        return ckpt.find_checkpoint(Path(setting))

    def restore(self, info: ckpt.CheckpointInfo, state: LoopState, tracker: EpisodeTracker,
                pending: MutableMapping[str, list[float]]) -> dict[str, Any]:
        """Load checkpoint ``info`` into the parts, counters and RNGs; returns the whole checkpoint
        (its env-side and logger entries are the caller's)."""
        saved = ckpt.load_checkpoint(info.path)
        ckpt.check_compatible(saved["compat"], self.compat(), source=info.path)
        agent = self.parts.agent
        try:
            agent.load_state_dict(saved["torch"]["agent"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise ckpt.CheckpointError(f"checkpoint {info.path} does not fit this agent: {err}") from err
        if "replay" in saved:
            self.parts.replay.load_state_dict(saved["replay"])
        else:
            log.warning("checkpoint %s holds no replay (checkpoint.replay=false): replay starts empty", info.path)
        state.load_state_dict(saved["loop"])
        self.cadence.next_step = saved["next_checkpoint_step"]
        tracker.load_state_dict(saved["episodes"])
        pending.clear()
        pending.update({k: list(v) for k, v in saved["pending_metrics"].items()})
        set_rng_state(saved["rng"])
        self.last = info.path
        return saved

    def remove_after_finish(self) -> None:
        """Delete a finished run's checkpoints unless ``checkpoint.keep_after_finish``."""
        if self.keep_after_finish:
            return
        removed = ckpt.remove_checkpoints(self.run_dir)
        if removed:
            log.info("removed %d checkpoint(s) of the finished run; model.pt holds its final weights "
                     "(checkpoint.keep_after_finish=true keeps them)", removed)
