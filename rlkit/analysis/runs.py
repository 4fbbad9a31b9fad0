"""Find and load finished run directories (local files only; no wandb) and group them into variants.

A run directory holds ``config.yaml`` (the resolved Hydra config), ``summary.json`` (written when
the run finished) and ``metrics.jsonl`` (or ``metrics.jsonl.gz``, as archived results keep it). A sweep keeps them at
``<sweep>/<experiment_name>/<env.id>/<variant>/seed<N>/`` next to Hydra's ``multirun.yaml``; any
directory tree works, since runs are found by walking for directories that hold both files.
Hidden directories (Hydra's ``.hydra/``) are not searched; a directory with ``config.yaml`` but no
``summary.json`` is an unfinished run and is skipped with a warning.

**Task**: the Atari game (``env.game``, normalised to ale-py's id) for Atari runs (``env.name: atari``),
else ``env.id`` (MinAtar: ``minatar_<game>``, never scored against Atari's human references).

Variants: :mod:`rlkit.analysis.variants`; one run: :class:`rlkit.analysis.run.Run`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlkit.analysis.added_keys import OVERRIDES_FILE, fill_added_keys, override_key, read_overrides
from rlkit.analysis.run import (
    CONFIG_FILE,
    EVAL_KEY,
    FINAL_KEY,
    METRICS_FILE,
    STEP_REWARDS,
    SUMMARY_FILE,
    Run,
    RunsError,
    ScoreMetric,
)
from rlkit.analysis.variants import (
    EXCLUDED_TOP_KEYS,
    MISSING,
    Grouping,
    flatten,
    group_variants,
    is_excluded_key,
    label,
    naming_keys,
    varying_keys,
)
from rlkit.logging.jsonl import read_metrics

__all__ = [
    "CONFIG_FILE", "EVAL_KEY", "EXCLUDED_TOP_KEYS", "FINAL_KEY", "METRICS_FILE", "MISSING", "OVERRIDES_FILE",
    "STEP_REWARDS", "SUMMARY_FILE", "Grouping", "LoadedRuns", "Run", "RunsError", "ScoreMetric", "discover_runs",
    "flatten", "group_variants", "is_excluded_key", "label", "load_run", "load_runs", "naming_keys",
    "sweep_overrides", "varying_keys",
]

_log = logging.getLogger(__name__)


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
    metrics = next((f for f in (path / METRICS_FILE, path / f"{METRICS_FILE}.gz") if f.is_file()), None)
    records = read_metrics(metrics) if metrics is not None else []
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
        overrides=_read_overrides(path),
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


def _read_overrides(run_dir: Path) -> frozenset[str] | None:
    """Hydra's recorded command-line overrides, less those of excluded or ``env`` keys; None if unreadable."""
    overrides = read_overrides(run_dir)
    if overrides is None:
        return None
    return frozenset(o for o in overrides if not is_excluded_key(key := override_key(o)) and key.split(".")[0] != "env")


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
    added_keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # fill_added_keys: key -> runs, values


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
    added_keys = fill_added_keys(runs)  # before grouping: a key only older runs lack must not split them
    return LoadedRuns(runs=runs, grouping=group_variants(runs), skipped=skipped, added_keys=added_keys)
