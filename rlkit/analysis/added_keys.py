"""Config keys a run lacks because it was trained before they existed: read as today's defaults.

A study that spans commits holds runs whose ``config.yaml`` predates keys added since. Left alone, such a key
reads ``<missing>`` in the older runs and its value in the newer ones, and splits runs that trained alike into
variants. rlkit adds a key with a default that keeps the earlier behaviour, so a key a run lacks reads as the value
``rlkit-train`` gives it today for that run's own command line (Hydra's ``.hydra/overrides.yaml``, composed with
the installed configs). That holds as long as the key's default has not changed since it was added; the report
lists every key read so, with its values, for the reader to check. Runs without their overrides file, or whose
command line no longer composes, keep ``<missing>``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from rlkit.analysis.run import Run
from rlkit.analysis.variants import flatten, is_excluded_key

_log = logging.getLogger(__name__)

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"


def override_key(override: str) -> str:
    """The dotted config key an override sets (``+a/b@c=x`` -> ``a.b``)."""
    return re.split(r"[=@]", override.lstrip("~+"), maxsplit=1)[0].strip().replace("/", ".")


def read_overrides(run_dir: Path) -> list[str] | None:
    """The run's recorded command-line overrides; None when the file is missing or unreadable."""
    try:
        overrides = yaml.safe_load((run_dir / OVERRIDES_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return [str(o) for o in overrides] if isinstance(overrides, list) else None


def fill_added_keys(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Fill into each run's ``flat`` config the keys other runs of its task have and it lacks (only those can tell
    variants apart), from today's defaults for its command line (module docstring). Returns
    ``{key: {"runs": how many, "values": [distinct values]}}``."""
    present: dict[str, set[str]] = defaultdict(set)  # task -> keys its runs have
    for run in runs:
        present[run.task].update(key for key in run.flat if not is_excluded_key(key))
    defaults_by_command: dict[tuple[str, ...], dict[str, Any] | None] = {}
    filled: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        lacking = sorted(present[run.task].difference(run.flat))
        if not lacking:
            continue
        overrides = read_overrides(run.path)
        if overrides is None:
            _log.warning("%s lacks %s and has no %s: they read <missing>", run.path, ", ".join(lacking),
                         OVERRIDES_FILE)
            continue
        command = tuple(o for o in overrides if not is_excluded_key(override_key(o)))
        if command not in defaults_by_command:
            defaults_by_command[command] = _defaults(command, run.path)
        defaults = defaults_by_command[command]
        for key in lacking:
            if defaults is not None and key in defaults:
                run.flat[key] = defaults[key]
                filled[key].append(defaults[key])
    if filled:
        _log.warning("runs trained before some config keys existed read them as today's defaults: %s",
                     ", ".join(f"{key} ({len(values)} runs)" for key, values in sorted(filled.items())))
    return {key: {"runs": len(values), "values": _distinct(values)} for key, values in sorted(filled.items())}


def _defaults(command: tuple[str, ...], run_dir: Path) -> dict[str, Any] | None:
    """The flattened config ``rlkit-train <command>`` runs today; None (with a warning) when it does not compose."""
    from omegaconf import OmegaConf

    from rlkit.config import compose_config

    try:
        config = OmegaConf.to_container(compose_config(list(command)), resolve=True)
    except Exception as exc:  # noqa: BLE001  (Hydra and OmegaConf raise many kinds; any means "cannot tell")
        _log.warning("%s: its command line (%s) no longer composes (%s): its missing keys read <missing>",
                     run_dir, " ".join(command), exc)
        return None
    return flatten(config)  # type: ignore[arg-type]


def _distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out
