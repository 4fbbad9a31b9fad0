"""``rlkit-train resume=<run dir or checkpoint> [key=value ...]``: continue a run with its own config.

The run's saved ``config.yaml`` is the config; command-line ``key=value`` overrides are applied on
top (e.g. ``train.steps=2_000_000`` to extend a run). Group choices (``agent=dqn``) cannot change a
saved run: they would build different parts than the checkpoint holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from rlkit.training.checkpoint import CheckpointError, find_checkpoint, run_dir_of

RESUME_MODES = ("auto", "never")


def explicit_resume(cfg: DictConfig) -> Path | None:
    """The path given as ``resume=<path>``, or None for ``auto``/``never``."""
    setting = str(cfg.get("resume", "auto") or "auto")
    return None if setting in RESUME_MODES else Path(setting).expanduser()


def config_for_resume(path: Path, overrides: Sequence[str]) -> tuple[DictConfig, Path]:
    """(config, run dir) to continue the run that ``path`` (a run dir or a checkpoint) belongs to."""
    info = find_checkpoint(path)
    run_dir = run_dir_of(info.path)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
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
        cfg.resume = str(info.path)
    return cfg, run_dir
