"""``rlkit-train resume=<run dir or checkpoint> [key=value ...]``: continue a run with its own config.

The run's saved ``config.yaml`` is the config; command-line ``key=value`` overrides are applied on
top (e.g. ``train.steps=2_000_000`` to extend a run). Group choices (``agent=dqn``) cannot change a
saved run: they would build different parts than the checkpoint holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from rlkit.training.checkpoint import CHECKPOINT_DIR, CheckpointError, find_checkpoint, latest_checkpoint, run_dir_of

RESUME_MODES = ("auto", "never")


def explicit_resume(cfg: DictConfig) -> Path | None:
    """The path given as ``resume=<path>``, or None for ``auto``/``never``."""
    setting = str(cfg.get("resume", "auto") or "auto")
    return None if setting in RESUME_MODES else Path(setting).expanduser()


def resume_run_dir(path: Path) -> Path:
    """The run directory ``resume=<path>`` names (a run dir or one of its checkpoints)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"resume={path}: {path} does not exist (give a run directory or one of its "
                              "checkpoints/step_N directories)")
    if not path.is_dir():
        raise CheckpointError(f"resume={path}: {path} is a file; give a run directory or a checkpoints/step_N directory")
    return run_dir_of(path) if path.parent.name == CHECKPOINT_DIR else path


def config_for_resume(path: Path, overrides: Sequence[str]) -> tuple[DictConfig, Path]:
    """(config, run dir) to continue the run that ``path`` (a run dir or a checkpoint) belongs to.

    A finished run's config is returned even when its checkpoints are gone, so that the caller can
    say it is finished (:func:`finished_run`) instead of "no checkpoint"."""
    path = Path(path)
    run_dir = resume_run_dir(path)
    named_checkpoint = path if path.parent.name == CHECKPOINT_DIR else None
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        if latest_checkpoint(run_dir) is None:
            find_checkpoint(path)  # raises: no checkpoint (and no config): not a run directory
        raise CheckpointError(f"cannot resume {run_dir}: it has checkpoints but no config.yaml")
    cfg = OmegaConf.load(config_file)
    assert isinstance(cfg, DictConfig)
    parsed = OverridesParser.create().parse_overrides([o for o in overrides if not o.startswith("resume=")])
    with open_dict(cfg):
        for override in parsed:
            key = override.key_or_group
            if override.is_delete():
                raise CheckpointError(f"cannot delete {key!r} when resuming {run_dir}")
            current = OmegaConf.select(cfg, key, default=None)
            value = override.value()
            is_group = "/" in key or override.package is not None
            if is_group or (isinstance(current, DictConfig) and not isinstance(value, dict)):
                raise CheckpointError(
                    f"'{override.input_line}' chooses a config group option; a resumed run keeps the parts it was "
                    f"built with. Start a new run for another {key}, or set its fields ({key}.<field>=...)"
                )
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        latest = latest_checkpoint(run_dir)
        cfg.resume = str(named_checkpoint or (latest.path if latest is not None else run_dir))
    if finished_run(run_dir, cfg) is None:  # there is more to train: that needs a checkpoint
        summary = read_summary(run_dir)
        if summary is not None and named_checkpoint is None and latest is None:
            raise CheckpointError(
                f"cannot train {run_dir} on to train.steps={cfg.train.steps}: the run finished at "
                f"{int(summary.get('steps') or 0):,} steps and its checkpoints were deleted then "
                "(checkpoint.keep_after_finish=false). Start a new run with the longer budget")
        find_checkpoint(Path(cfg.resume))
    return cfg, run_dir


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """``summary.json`` of a run directory (written when a run finishes), or None."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) else None


def finished_run(run_dir: Path, cfg: DictConfig) -> dict[str, Any] | None:
    """The summary of the finished run in ``run_dir`` when ``cfg`` asks for nothing more, else None.

    More is asked for when ``train.steps`` exceeds the steps the run took, unless the run stopped
    early at ``train.stop_at_eval_return`` and that threshold still holds."""
    summary = read_summary(run_dir)
    if summary is None:
        return None
    steps = int(summary.get("steps") or 0)
    stop_at = cfg.train.get("stop_at_eval_return")
    if summary.get("stopped_early") and stop_at is not None:
        return summary
    return summary if steps >= int(cfg.train.steps) else None


def finished_run_message(run_dir: Path, summary: dict[str, Any]) -> str:
    """What ``rlkit-train`` prints for a run that has nothing left to do."""
    steps = int(summary.get("steps") or 0)
    score = summary.get("eval/episodic_return")
    score_text = f"{score:.2f}" if isinstance(score, (int, float)) and math.isfinite(score) else "n/a"
    why = (f"stopped early at {steps:,} steps (eval return >= train.stop_at_eval_return)" if summary.get("stopped_early")
           else f"{steps:,} of {steps:,} steps")
    head = f"rlkit-train: {run_dir} holds a finished run ({why}; final eval return {score_text}); nothing was changed."
    if latest_checkpoint(run_dir) is None:
        return (f"{head} Its checkpoints were deleted when it finished, so it cannot be trained further: start a new "
                "run (checkpoint.keep_after_finish=true keeps a run's checkpoints for that).")
    more = f"train.steps={2 * max(steps, 1)}" + (" train.stop_at_eval_return=null" if summary.get("stopped_early") else "")
    return f"{head} To train it further: rlkit-train resume={run_dir} {more}"
