"""Which keys a composed rlkit config may hold, and the closest valid key for one it may not.

Two sources say what is valid:

* the primary ``conf/config.yaml`` lists every key of the plain sections (``train``, ``eval``,
  ``checkpoint``, the ingredient knobs, the top-level settings); presets, tuning and experiment
  files only set values there;
* a component node (``agent``, ``env``, ``network.head``, a ``logger`` entry ...) takes the
  arguments of the registered part it names; :mod:`rlkit.validation` checks those against the
  constructor.

A key in neither place is a typo or a stale setting: Hydra would accept ``+train.step=100`` and the
run would silently ignore it, so :func:`unknown_keys` reports it with the nearest valid key.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources

from omegaconf import DictConfig, OmegaConf

# config paths of component nodes (registry groups) and the mappings whose entries are components
COMPONENT_PATHS: dict[str, str] = {
    "env": "env",
    "network.torso": "network/torso",
    "network.head": "network/head",
    "network.head.output": "network/output",
    "network.layer": "network/layer",
    "exploration": "exploration",
    "target": "target",
    "loss": "loss",
    "replay.storage": "replay/storage",
    "replay.sampler": "replay/sampler",
    "augmentation": "augmentation",
    "optim": "optim",
    "agent": "agent",
}
COMPONENT_MAPPINGS = ("logger",)
# keys of the agent node read by the replay (n-step returns, discount) and the loop (batch size), not the agent
LEARNER_SCHEDULE_KEYS = ("batch_size", "gamma", "n_step")
PRIMARY_CONFIG = "config.yaml"


@lru_cache(maxsize=1)
def primary_schema() -> DictConfig:
    """The packaged ``config.yaml`` as written (unresolved), without ``defaults`` and ``hydra``."""
    text = resources.files("rlkit.conf").joinpath(PRIMARY_CONFIG).read_text(encoding="utf-8")
    schema = OmegaConf.create(text)
    assert isinstance(schema, DictConfig)
    for key in ("defaults", "hydra"):
        schema.pop(key, None)
    return schema


def _keys(node: DictConfig) -> Iterator[str]:
    # DictConfig iteration never resolves values, so interpolations to missing keys cannot raise here
    yield from (str(k) for k in node)


def _is_mapping(node: DictConfig, key: str) -> bool:
    return isinstance(node._get_node(key), DictConfig)  # the node itself, without resolving it


def _paths(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every dotted key path below ``node`` (mappings and leaves)."""
    for key in _keys(node):
        path = f"{prefix}{key}"
        yield path
        if _is_mapping(node, key):
            yield from _paths(node._get_node(key), f"{path}.")  # type: ignore[arg-type]


def _leaves(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the non-mapping values below ``node``."""
    for key in _keys(node):
        if _is_mapping(node, key):
            yield from _leaves(node._get_node(key), f"{prefix}{key}.")  # type: ignore[arg-type]
        else:
            yield f"{prefix}{key}"


def unknown_keys(cfg: DictConfig) -> list[str]:
    """Dotted paths in ``cfg`` that are neither in ``config.yaml`` nor inside a component node.

    Under an unknown mapping the leaves are reported (``trian.steps``, not ``trian``)."""
    found: list[str] = []

    def visit(node: DictConfig, schema: DictConfig, prefix: str) -> None:
        for key in _keys(node):
            path = f"{prefix}{key}"
            if path in COMPONENT_PATHS or path in COMPONENT_MAPPINGS or prefix.rstrip(".") in COMPONENT_MAPPINGS:
                continue
            if key not in schema:
                child = node._get_node(key)
                leaves = list(_leaves(child, f"{path}.")) if isinstance(child, DictConfig) else []
                found.extend(leaves or [path])
            elif _is_mapping(node, key) and _is_mapping(schema, key):
                visit(node._get_node(key), schema._get_node(key), f"{path}.")  # type: ignore[arg-type]

    visit(cfg, primary_schema(), "")
    return found


def closest_key(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``key``: first among keys of the same parent, then anywhere."""
    candidates = list(candidates)
    parent, _, leaf = key.rpartition(".")
    siblings = {c.rpartition(".")[2]: c for c in candidates if c.rpartition(".")[0] == parent and c != key}
    near = difflib.get_close_matches(leaf, list(siblings), n=1, cutoff=0.6)
    if near:
        return siblings[near[0]]
    near = difflib.get_close_matches(key, [c for c in candidates if c != key], n=1, cutoff=0.6)
    if near:
        return near[0]
    # a misspelt section: match the leaf anywhere (``trian.steps`` -> ``train.steps``)
    by_leaf = [c for c in candidates if c.rpartition(".")[2] == leaf and c != key]
    near = difflib.get_close_matches(key, by_leaf, n=1, cutoff=0.0)
    return near[0] if near else None


def valid_key_paths(cfg: DictConfig) -> list[str]:
    """Candidates for :func:`closest_key`: the schema's paths and the known paths of ``cfg``."""
    unknown = set(unknown_keys(cfg))
    known = [p for p in _paths(cfg) if not any(p == u or p.startswith(u + ".") for u in unknown)]
    return sorted(set(_paths(primary_schema())) | set(known))
