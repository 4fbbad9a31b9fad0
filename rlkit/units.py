"""Unit conversions, in one place.

rlkit counts time in **agent steps**: one action taken in one environment (a vector step over
``E`` envs is ``E`` agent steps). Atari papers state schedules in **frames** (emulator frames,
``frame_skip`` per agent step) or in **gradient updates**. Configs keep the paper's number and
unit through OmegaConf resolvers, e.g. ``learning_starts_steps: ${frames:80_000}`` (Hessel et al.
2018), resolved with the run's ``env.frame_skip`` and ``train.update_every_steps``.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def frames_to_steps(frames: int, frame_skip: int) -> int:
    """Emulator frames -> agent steps (``frames / frame_skip``)."""
    if frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
    return int(frames) // int(frame_skip)


def updates_to_steps(updates: int, update_every_steps: int, updates_per_cycle: int = 1) -> int:
    """Gradient updates -> agent steps, for a learner doing ``updates_per_cycle`` updates
    every ``update_every_steps`` agent steps."""
    return int(updates) * int(update_every_steps) // int(updates_per_cycle)


def _frames(frames: Any, *, _root_: Any) -> int:
    return frames_to_steps(int(frames), int(_root_.env.frame_skip))


def _updates(updates: Any, *, _root_: Any) -> int:
    train = _root_.train
    return updates_to_steps(int(updates), int(train.update_every_steps), int(train.updates_per_cycle))


def register_resolvers() -> None:
    """Register ``${frames:N}`` and ``${updates:N}`` (both resolve to agent steps)."""
    OmegaConf.register_new_resolver("frames", _frames, replace=True)
    OmegaConf.register_new_resolver("updates", _updates, replace=True)
