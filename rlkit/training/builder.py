"""Assemble a run's parts from its composed config, all through the registry."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rlkit import registry
from rlkit.agents.dqn import DQNAgent
from rlkit.config_keys import LEARNER_SCHEDULE_KEYS
from rlkit.envs.spec import EnvMaker
from rlkit.networks.model import build_network
from rlkit.replay.buffer import ReplayBuffer


@dataclass
class Parts:
    env_maker: EnvMaker
    agent: DQNAgent
    replay: ReplayBuffer


def import_user_modules(modules: list[str] | None) -> None:
    """Import ``imports=[pkg.module, ...]`` so their ``@register`` decorators run."""
    for name in modules or []:
        importlib.import_module(name)


def build_parts(cfg: DictConfig, device: torch.device) -> Parts:
    env_maker: EnvMaker = registry.build("env", cfg.env)
    spec = env_maker.spec
    agent = build_agent(cfg, env_maker, device)
    if cfg.train.get("learner_thread", False):  # the actor acts with a copy the learner thread refreshes
        agent.use_acting_copy()
    if cfg.get("compile", False):  # runs configured before the key existed have none
        agent.compile_networks()
    agent.set_sync_free(sync_free_enabled(cfg.get("sync_free", "auto"), device))
    capacity = int(cfg.replay.capacity)
    storage = registry.build(  # storages own their n-step logic (rlkit/replay/storage.py)
        "replay/storage",
        cfg.replay.storage,
        capacity=capacity,
        obs_shape=spec.obs_shape,
        obs_dtype=spec.obs_dtype,
        num_envs=env_maker.num_envs,
        n_step=int(cfg.agent.n_step),
        gamma=float(cfg.agent.gamma),
    )
    sampler = registry.build("replay/sampler", cfg.replay.sampler, capacity=capacity, seed=int(cfg.seed))
    replay = ReplayBuffer(storage=storage, sampler=sampler)
    if bool(cfg.replay.get("on_device", False)):
        replay.keep_frames_on(device)
    return Parts(env_maker=env_maker, agent=agent, replay=replay)


def sync_free_enabled(setting: bool | str, device: torch.device) -> bool:
    """``sync_free``: ``auto`` is on for CUDA and off elsewhere (where a sync costs nothing)."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


def build_agent(cfg: DictConfig, env_maker: EnvMaker, device: torch.device) -> DQNAgent:
    """The agent (networks, optimiser, loss, target rule, exploration, augmentation) for ``env_maker``'s envs."""
    spec = env_maker.spec
    network = build_network(
        torso_cfg=cfg.network.torso,
        head_cfg=cfg.network.head,
        layer_cfg=cfg.network.layer,
        obs_shape=spec.obs_shape,
        num_actions=spec.num_actions,
    )
    optim_cfg = OmegaConf.to_container(cfg.optim, resolve=True)
    optimizer_factory = functools.partial(_build_optimizer, optim_cfg)
    agent_cfg = OmegaConf.to_container(cfg.agent, resolve=True)
    assert isinstance(agent_cfg, dict)
    for key in LEARNER_SCHEDULE_KEYS:  # the replay and the loop read these; the agent does not
        agent_cfg.pop(key, None)
    agent = registry.build(
        "agent",
        agent_cfg,
        network=network,
        optimizer_factory=optimizer_factory,
        loss=registry.build("loss", cfg.loss),
        target_rule=registry.build("target", cfg.target),
        exploration=registry.build("exploration", cfg.exploration),
        # runs configured before the augmentation group existed (resume, rlkit-eval) have none
        augmentation=registry.build("augmentation", cfg.get("augmentation") or {"name": "none"}, seed=int(cfg.seed)),
        device=device,
        num_actions=spec.num_actions,
        seed=int(cfg.seed),
    )
    return agent


def _build_optimizer(optim_cfg: dict[str, Any], params: Any) -> torch.optim.Optimizer:
    return registry.build("optim", optim_cfg, params=list(params))
