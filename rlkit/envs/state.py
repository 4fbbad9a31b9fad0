"""Exact snapshots of in-process gymnasium vector envs, so a resumed run continues its episodes.

Supported: ``gymnasium.vector.SyncVectorEnv`` over pure-Python envs such as the classic-control
tasks. Each sub-env's wrapper chain is walked and every plain attribute (numbers, strings, bools,
None, numeric arrays and tuples of them) is recorded, with the state of ``np_random``; restoring
sets them back. An unwrapped env whose simulator lives in other Python objects (MinAtar's game and
its ``RandomState``) may also expose ``state_dict()`` (plain values, lists, dicts, arrays) and
``load_state_dict(state)``: that state is saved and restored too. Envs whose simulator lives
elsewhere (ale-py's C++ ``AtariVectorEnv``, ``AsyncVectorEnv`` workers) cannot be captured:
:func:`vector_env_state` returns None and a resumed run starts new episodes there (see
:mod:`rlkit.training.loop`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.groups import EnvGroups

_PLAIN = (bool, int, float, str, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, (*_PLAIN, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return False


def _chain(env: gym.Env) -> list[Any]:
    """The env and every wrapper around it, outermost first."""
    chain = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


def _snapshot(obj: Any) -> dict[str, Any]:
    attrs = {}
    for name, value in vars(obj).items():
        if name.startswith("__") or not _plain(value):
            continue
        attrs[name] = value.copy() if isinstance(value, np.ndarray) else value
    return attrs


def vector_env_state(envs: gym.vector.VectorEnv | EnvGroups) -> dict[str, Any] | None:
    """A snapshot of every sub-env (None if ``envs`` is not an in-process ``SyncVectorEnv``, or
    groups of them)."""
    if isinstance(envs, EnvGroups):
        states = [vector_env_state(group.envs) for group in envs.groups]
        return None if any(state is None for state in states) else {"groups": states}
    base = envs.unwrapped if hasattr(envs, "unwrapped") else envs
    if not isinstance(base, gym.vector.SyncVectorEnv):
        return None
    snapshot: dict[str, Any] = {"num_envs": len(base.envs), "envs": []}
    for env in base.envs:
        chain = _chain(env)
        rng = env.unwrapped.np_random
        entry = {
            "types": [type(layer).__name__ for layer in chain],
            "layers": [_snapshot(layer) for layer in chain],
            "np_random": rng.bit_generator.state,
        }
        own = getattr(env.unwrapped, "state_dict", None)
        if callable(own):
            entry["own"] = own()
        snapshot["envs"].append(entry)
    return snapshot


def load_vector_env_state(envs: gym.vector.VectorEnv | EnvGroups, snapshot: dict[str, Any]) -> None:
    """Put every sub-env back into the state :func:`vector_env_state` recorded (after a reset).

    Env ``i`` gets env ``i``'s state however the envs are grouped, so a run may resume with another
    ``train.pipeline_groups`` than it was saved with."""
    parts = snapshot.get("groups", [snapshot])
    entries = [entry for part in parts for entry in part["envs"]]
    if isinstance(envs, EnvGroups):
        if len(entries) != envs.num_envs:
            raise ValueError(f"snapshot holds {len(entries)} envs, these envs are {envs.num_envs}")
        for g, group in enumerate(envs.groups):
            _load_sync(group.envs, entries[envs.envs_of(g)])
        return
    _load_sync(envs, entries)


def _load_sync(envs: gym.vector.VectorEnv, entries: list[dict[str, Any]]) -> None:
    base = envs.unwrapped if hasattr(envs, "unwrapped") else envs
    if not isinstance(base, gym.vector.SyncVectorEnv):
        raise TypeError(f"env snapshots restore only into SyncVectorEnv, got {type(base).__name__}")
    if len(entries) != len(base.envs):
        raise ValueError(f"snapshot holds {len(entries)} envs, this vector env has {len(base.envs)}")
    for env, saved in zip(base.envs, entries):
        chain = _chain(env)
        types = [type(layer).__name__ for layer in chain]
        if types != list(saved["types"]):
            raise ValueError(f"snapshot is of an env built as {saved['types']}, this one is {types}")
        for layer, attrs in zip(chain, saved["layers"]):
            for name, value in attrs.items():
                setattr(layer, name, np.array(value) if isinstance(value, np.ndarray) else value)
        env.unwrapped.np_random.bit_generator.state = saved["np_random"]
        if saved.get("own") is not None:
            env.unwrapped.load_state_dict(saved["own"])
