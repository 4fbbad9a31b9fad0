"""Find, load and group finished run directories (local files only; no wandb).

A run directory holds ``config.yaml`` (the resolved Hydra config), ``summary.json`` (written when
the run finished) and ``metrics.jsonl``. A sweep keeps them at
``<sweep>/<experiment_name>/<env.id>/<variant>/seed<N>/`` next to Hydra's ``multirun.yaml``; any
directory tree works, since runs are found by walking for directories that hold both files.
Hidden directories (Hydra's ``.hydra/``) are not searched; a directory with ``config.yaml`` but no
``summary.json`` is an unfinished run and is skipped with a warning.

**Task**: the Atari game (``env.game``, normalised to ale-py's id) for Atari runs (``env.name: atari``),
else ``env.id`` (MinAtar: ``minatar_<game>``, never scored against Atari's human references).

**Differing keys** of some runs: the flattened config keys whose values differ between those runs
*of the same task* (so that env and per-env tuning keys do not count), leaving out how a run was
executed: ``seed``, ``run_name``, ``device``, ``torch_threads``, ``resume`` and ``checkpoint.*`` (a
resumed run is the same experiment, continued), ``hydra.*``, ``logger.*``, ``wandb.*`` and paths (keys
named ``dir``/``path`` or ending in ``_dir``/``_path``). ``train.steps``, ``eval.*`` and every other key
count: runs of another length or evaluation protocol are another experiment. A run that lacks a key
reads ``key=<missing>``.
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
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rlkit.logging.jsonl import read_metrics

_log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
EVAL_KEY = "eval/episodic_return"
FINAL_KEY = "final/episodic_return"
EXCLUDED_TOP_KEYS = frozenset(
    {"seed", "run_name", "device", "torch_threads", "resume", "checkpoint", "hydra", "logger", "wandb"}
)
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
MISSING = "<missing>"
# Per-step reward bounds of gymnasium envs with their default reward (no env.kwargs), by id without version.
STEP_REWARDS = {"CartPole": (0.0, 1.0), "Acrobot": (-1.0, 0.0), "MountainCar": (-1.0, 0.0)}

ScoreMetric = Literal["final", "best"]


class RunsError(ValueError):
    """No usable runs, or a run directory that cannot be read; the message says which and why."""


@dataclass
class Run:
    """One finished run: where it is, its config (nested and flattened), summary and metric records."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    experiment: str
    variant_key: str
    seed: int
    env_id: str
    task: str
    game: str | None  # Atari-57 game with human/random reference scores, else None
    flat: dict[str, Any] = field(default_factory=dict)
    overrides: frozenset[str] | None = None  # command-line overrides that may define a variant; None: unknown
    variant: str = ""  # filled in by group_variants

    def score(self, metric: ScoreMetric = "final") -> float:
        """Mean evaluation return: of the final evaluation, or the best evaluation of the run."""
        if metric == "final":
            value = self.summary.get(EVAL_KEY)
            if _finite(value):
                return float(value)
            finals = [r[FINAL_KEY] for r in self.records if _finite(r.get(FINAL_KEY))]
            if finals:
                return float(finals[-1])
            raise RunsError(f"{self.path}: no final evaluation return ({EVAL_KEY} in {SUMMARY_FILE})")
        if metric == "best":
            evals = [r[EVAL_KEY] for r in self.records if _finite(r.get(EVAL_KEY))]
            best = self.summary.get("best_eval_return")
            candidates = evals + ([float(best)] if _finite(best) else [])
            if candidates:
                return float(max(candidates))
            return self.score("final")
        raise ValueError(f"metric must be 'final' or 'best', got {metric!r}")

    def hns(self, metric: ScoreMetric = "final") -> float | None:
        """Human-normalised score of :meth:`score` (Atari-57 games only, else None)."""
        if self.game is None:
            return None
        from rlkit.analysis.hns import human_normalized_score

        return human_normalized_score(self.game, self.score(metric))

    def return_range(self) -> tuple[tuple[float, float] | None, str]:
        """``(range, why)`` of the run's episode returns: per-step reward bounds (:data:`STEP_REWARDS`) times the
        episode cap (``env.max_episode_steps``, else gymnasium's ``max_episode_steps``); ``None`` when unknown."""
        import gymnasium
        from gymnasium.envs.registration import parse_env_id

        env = self.config.get("env") if isinstance(self.config.get("env"), dict) else {}
        if env.get("game") is not None:
            return None, f"unknown: Atari game {self.task}"
        try:
            namespace, name, _ = parse_env_id(self.env_id)
            registered = gymnasium.spec(self.env_id).max_episode_steps
        except gymnasium.error.Error:
            return None, f"unknown: {self.env_id} is not a registered gymnasium id"
        bounds = STEP_REWARDS.get(name) if namespace is None else None
        if bounds is None or env.get("kwargs"):
            why = "env.kwargs may change its rewards" if bounds else "per-step reward bounds not known"
            return None, f"unknown: {self.env_id}: {why}"
        cap, where = env.get("max_episode_steps"), "env.max_episode_steps"
        if cap is None:
            cap, where = registered, "gymnasium max_episode_steps"
        if cap is None:
            return None, f"unknown: {self.env_id} has no episode cap"
        lo, hi = bounds
        return ((min(0.0, lo * cap), max(0.0, hi * cap)),
                f"{self.env_id}: reward in [{lo:g}, {hi:g}] per step, at most {cap} steps ({where})")

    def eval_curve(self, key: str = EVAL_KEY) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of the run's evaluations; at a repeated step the last record wins."""
        by_step: dict[int, float] = {}
        for record in self.records:
            if _finite(record.get(key)) and isinstance(record.get("step"), int):
                by_step[record["step"]] = float(record[key])
        steps = sorted(by_step)
        return steps, [by_step[s] for s in steps]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ----------------------------------------------------------------------------- discovery
def discover_runs(paths: Iterable[Path | str]) -> tuple[list[Path], list[Path]]:
    """``(finished, unfinished)`` run directories under ``paths`` (each a run dir or any folder above runs)."""
    finished: set[Path] = set()
    unfinished: set[Path] = set()
    seen: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise RunsError(f"path {str(raw)!r} does not exist; pass a sweep directory or run directories")
        if not root.is_dir():
            raise RunsError(f"path {str(raw)!r} is not a directory; pass a sweep directory or run directories")
        stack = [root]
        while stack:
            directory = stack.pop()
            real = directory.resolve()
            if real in seen:  # a symlink cycle, or a path given twice
                continue
            seen.add(real)
            if (directory / CONFIG_FILE).is_file():
                target = finished if (directory / SUMMARY_FILE).is_file() else unfinished
                target.add(directory.resolve())
                continue  # a run directory holds no further runs
            try:
                children = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
            except PermissionError:
                _log.warning("cannot list %s: skipped", directory)
                continue
            stack.extend(children)
    return sorted(finished), sorted(unfinished)


def load_run(path: Path | str) -> Run:
    """Read one finished run directory; :class:`RunsError` names the file and the problem."""
    path = Path(path)
    try:
        config = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8"))
        summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RunsError(f"{path}: cannot read {CONFIG_FILE}/{SUMMARY_FILE}: {exc}") from exc
    if not isinstance(config, dict) or not isinstance(summary, dict):
        raise RunsError(f"{path}: {CONFIG_FILE} and {SUMMARY_FILE} must each hold a mapping")
    records = read_metrics(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else []
    env = config.get("env") if isinstance(config.get("env"), dict) else {}
    env_id = env.get("id", summary.get("env"))
    if env_id is None:
        raise RunsError(f"{path}: no env.id in {CONFIG_FILE} and no 'env' in {SUMMARY_FILE}")
    seed = config.get("seed", summary.get("seed"))
    if not isinstance(seed, int):
        raise RunsError(f"{path}: 'seed' must be an integer in {CONFIG_FILE} or {SUMMARY_FILE}, got {seed!r}")
    atari = env.get("name", "atari") == "atari"  # MinAtar's games share Atari's names: only Atari runs get HNS
    game = _atari57_game(env.get("game")) if atari and env.get("game") is not None else None
    task = game if game is not None else str((atari and env.get("game")) or env_id)
    run = Run(
        path=path,
        config=config,
        summary=summary,
        records=records,
        experiment=str(config.get("experiment_name", "default")),
        variant_key=str(config.get("variant", "default")),
        seed=seed,
        env_id=str(env_id),
        task=task,
        game=game,
        flat=flatten(config),
        overrides=_read_overrides(path / OVERRIDES_FILE),
    )
    return run


def _yaml_get(file: Path, *keys: str) -> Any:
    """The value at ``keys`` in a YAML file, or None when the file, a key or the YAML is missing or broken."""
    try:
        value = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def sweep_overrides(paths: Sequence[Path | str]) -> dict[str, list[str]]:
    """The command-line overrides of each sweep (Hydra's ``multirun.yaml``) found at the top of ``paths``."""
    found = {}
    for path in paths:
        task = _yaml_get(Path(path) / "multirun.yaml", "hydra", "overrides", "task")
        if isinstance(task, list):
            found[str(path)] = [str(t) for t in task]
    return found


def _read_overrides(file: Path) -> frozenset[str] | None:
    """Hydra's recorded command-line overrides, less those of excluded or ``env`` keys; None if unreadable."""
    overrides = _yaml_get(file)
    if not isinstance(overrides, list):
        return None
    kept = set()
    for override in map(str, overrides):
        key = re.split(r"[=@]", override.lstrip("~+"), maxsplit=1)[0].strip().replace("/", ".")
        if not is_excluded_key(key) and key.split(".")[0] != "env":
            kept.add(override)
    return frozenset(kept)


def _atari57_game(name: Any) -> str | None:
    from rlkit.analysis.hns import reference_scores
    from rlkit.utils.atari_games import UnknownGameError, canonical_game

    try:
        return canonical_game(str(name), reference_scores())
    except UnknownGameError:
        _log.warning("Atari game %r has no human/random reference scores: reported on raw returns", name)
        return None


@dataclass
class LoadedRuns:
    """The finished runs (with ``variant`` set), how they were grouped, and the directories skipped."""

    runs: list[Run]
    grouping: Grouping
    skipped: list[dict[str, str]]  # {"path", "reason"}


def load_runs(paths: Sequence[Path | str]) -> LoadedRuns:
    """Load and group the finished runs under ``paths``; unfinished or unreadable ones are skipped with a warning.

    Raises :class:`RunsError` when no finished run is found.
    """
    finished, unfinished = discover_runs(paths)
    skipped = [{"path": str(p), "reason": f"unfinished (no {SUMMARY_FILE})"} for p in unfinished]
    if unfinished:
        _log.warning("skipping %d unfinished run(s) (no %s): %s", len(unfinished), SUMMARY_FILE,
                     ", ".join(str(p) for p in unfinished))
    runs = []
    for path in finished:
        try:
            runs.append(load_run(path))
        except RunsError as exc:
            _log.warning("skipping unreadable run: %s", exc)
            skipped.append({"path": str(path), "reason": str(exc)})
    if not runs:
        where = ", ".join(str(p) for p in paths)
        raise RunsError(
            f"no finished runs found under {where}: a run directory holds {CONFIG_FILE} and {SUMMARY_FILE}"
            + (f" ({len(unfinished)} unfinished run(s) lack {SUMMARY_FILE})" if unfinished else "")
        )
    return LoadedRuns(runs=runs, grouping=group_variants(runs), skipped=skipped)


# ----------------------------------------------------------------------------- grouping
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
    and wandb settings."""
    parts = key.split(".")
    last = parts[-1]
    return parts[0] in EXCLUDED_TOP_KEYS or last in ("dir", "path") or last.endswith(("_dir", "_path"))


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
    """``keys`` less those under a component whose ``<prefix>.name`` is among them, if the rest still separate the runs."""
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
