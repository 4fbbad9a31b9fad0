"""Group runs into variants: which config keys tell runs apart, and how a variant is named.

**Differing keys** of some runs: the flattened config keys whose values differ between those runs
*of the same task* (so that env and per-env tuning keys do not count), leaving out how a run was
executed: ``seed``, ``run_name``, ``device``, ``torch_threads``, ``resume`` and ``checkpoint.*`` (a
resumed run is the same experiment, continued), ``hydra.*``, ``logger.*``, ``wandb.*``, paths (keys
named ``dir``/``path`` or ending in ``_dir``/``_path``) and the fast paths that compute the same updates
(``compile``, ``sync_free``, ``optim.fused``, ``network.torso.channels_last``, ``replay.on_device``). ``train.steps``, ``eval.*`` and every other key
count: runs of another length or evaluation protocol are another experiment. A key that a run trained
before the key existed lacks reads as today's default for its command line (:mod:`rlkit.analysis.added_keys`,
applied by ``load_runs``); one still missing reads ``key=<missing>``.
**Naming keys**: the differing keys less those under a component whose ``name`` differs
(``loss.kind`` when ``loss.name`` differs: the component implies them), provided the rest still
tell the same runs apart; a label is the ``key=value`` pairs, sorted by key and joined by ``,``.

**Variant** (how runs are grouped), first rule that applies; runs whose configs differ are never merged:

1. Runs disagree on ``variant`` or ``experiment_name``: the variant is the ``variant`` key, prefixed
   with ``<experiment_name>/`` when there is more than one experiment. When runs of one such name
   have differing keys, each configuration is a sub-variant ``<name>[<label>]`` (naming keys
   collected over the name's runs, task by task). One sub-variant keeps the bare ``<name>``: the one
   whose runs' command-line overrides (Hydra's ``.hydra/overrides.yaml``, less excluded and ``env``
   keys) are a strict subset of every other run's of that name, i.e. the others are it plus more
   changes (``agent=rainbow`` vs ``agent=rainbow loss=td``). Without such a sub-variant, or when a run
   has no overrides file, every sub-variant carries its label.
2. Otherwise, when the runs have differing keys: a variant is named by its label.
3. No such keys: one variant, named by the ``variant`` key.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlkit.analysis.run import Run

_log = logging.getLogger(__name__)

EXCLUDED_TOP_KEYS = frozenset(
    {"seed", "run_name", "device", "torch_threads", "resume", "checkpoint", "hydra", "logger", "wandb"}
)
# how an update is computed, not what: the same numbers up to float rounding (or bit for bit), like device and threads
EXECUTION_KEYS = frozenset({"compile", "sync_free", "optim.fused", "network.torso.channels_last", "replay.on_device"})
MISSING = "<missing>"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys (``{"env": {"id": x}} -> {"env.id": x}``); lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def is_excluded_key(key: str) -> bool:
    """Keys that never define a variant: seeds, names, devices, resume and checkpoint settings, paths, Hydra, logger
    and wandb settings, and the fast paths that compute the same update (:data:`EXECUTION_KEYS`)."""
    parts = key.split(".")
    last = parts[-1]
    return (parts[0] in EXCLUDED_TOP_KEYS or key in EXECUTION_KEYS or last in ("dir", "path")
            or last.endswith(("_dir", "_path")))


def _text(value: Any) -> str:
    if value is MISSING:
        return MISSING
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Grouping:
    """How runs were grouped: the rule applied, the keys that define the variants, and the names split by config."""

    rule: str
    keys: list[str]
    split: dict[str, list[str]] = field(default_factory=dict)  # name -> naming keys of its sub-variants


def _by_task(runs: Iterable[Run]) -> list[list[Run]]:
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.task].append(run)
    return list(groups.values())


def varying_keys(runs: Sequence[Run]) -> list[str]:
    """Flattened config keys (not excluded) whose values differ between runs of the same task."""
    keys: set[str] = set()
    for task_runs in _by_task(runs):
        for key in set().union(*(r.flat for r in task_runs)):
            if not is_excluded_key(key) and len({_text(r.flat.get(key, MISSING)) for r in task_runs}) > 1:
                keys.add(key)
    return sorted(keys)


def label(run: Run, keys: Sequence[str]) -> str:
    """``key=value`` pairs of ``run`` for ``keys``, joined by ``,``."""
    return ",".join(f"{k}={_text(run.flat.get(k, MISSING))}" for k in keys)


def naming_keys(runs: Sequence[Run], keys: Sequence[str]) -> list[str]:
    """``keys`` less those under a component whose ``<prefix>.name`` is among them, if the rest still separate
    the runs."""
    components = [k[: -len("name")] for k in keys if k.endswith(".name")]
    short = [k for k in keys if k.endswith(".name") or not k.startswith(tuple(components))]
    if len(short) < len(keys) and all(
        len({label(r, short) for r in task_runs}) == len({label(r, keys) for r in task_runs})
        for task_runs in _by_task(runs)
    ):
        return short
    return list(keys)


def _bare_label(members: Mapping[str, Sequence[Run]]) -> str | None:
    """The sub-variant whose runs' overrides are a strict subset of every other run's (module docstring), else None."""
    known: dict[str, list[frozenset[str]]] = {}
    for name, runs in members.items():
        known[name] = [r.overrides for r in runs if r.overrides is not None]
        if len(known[name]) < len(runs):
            return None
    for name, overrides in known.items():
        mine = frozenset[str]().union(*overrides)
        if all(mine < o for other, others in known.items() if other != name for o in others):
            return name
    return None


def _split(name: str, runs: Sequence[Run]) -> list[str]:
    """Name the sub-variants of runs that share ``name`` (rule 1); returns their naming keys ([] if one config)."""
    keys = varying_keys(runs)
    if not keys:
        return []
    keys = naming_keys(runs, keys)
    members: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        members[label(run, keys)].append(run)
    bare = _bare_label(members)
    for sub, sub_runs in members.items():
        for run in sub_runs:
            run.variant = name if sub == bare else f"{name}[{sub}]"
    _log.warning("runs named %r differ in %s: reported as %d sub-variants (%s)", name, ", ".join(keys),
                 len(members), ", ".join(sorted({r.variant for r in runs})))
    return keys


def group_variants(runs: Sequence[Run]) -> Grouping:
    """Set ``run.variant`` for every run (rules in the module docstring) and return how."""
    experiments = {r.experiment for r in runs}
    if len({r.variant_key for r in runs}) > 1 or len(experiments) > 1:
        prefix = len(experiments) > 1
        by_name: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            run.variant = f"{run.experiment}/{run.variant_key}" if prefix else run.variant_key
            by_name[run.variant].append(run)
        split = {name: sub_keys for name, members in sorted(by_name.items()) if (sub_keys := _split(name, members))}
        keys = ["experiment_name", "variant"] if prefix else ["variant"]
        rule = "runs disagree on " + " and ".join(f"`{k}`" for k in keys) + ": grouped by it"
        if split:
            rule += ", and runs of one name whose configs differ split into sub-variants `name[key=value,...]`"
        grouping = Grouping(rule=rule, keys=keys, split=split)
    else:
        keys = varying_keys(runs)
        keys = naming_keys(runs, keys) if keys else keys
        for run in runs:
            run.variant = label(run, keys) if keys else run.variant_key
        rule = (
            "runs share `variant`; grouped by the config keys that differ between runs of a task"
            if keys
            else "all runs share one configuration (up to seed): one variant"
        )
        grouping = Grouping(rule=rule, keys=keys)
    seen: dict[tuple[str, str, int], Path] = {}
    for run in runs:
        ident = (run.variant, run.task, run.seed)
        if ident in seen:
            _log.warning("variant %r, task %r, seed %d appears twice: %s and %s (both kept)",
                         *ident, seen[ident], run.path)
        seen[ident] = run.path
    return grouping
