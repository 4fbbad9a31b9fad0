"""Check a composed config before anything is built or written, and report every problem at once.

:func:`validate_config` reads the config only: it never builds a component, never creates a file or a
directory, and never stops at the first problem. Each :class:`ConfigProblem` names the key path, what
is wrong and how to fix it; :func:`check_config` raises a :class:`ConfigError` that lists them all.
Hyper-parameters are checked on the node a component actually reads (``network.head.output.v_min``),
and the fix names the knob that node interpolates (``c51.v_min``). The rules live by subject:
``components`` (imports, unknown keys, registered names, constructor arguments), ``envs`` (envs and
their tuning), ``learning`` (schedules, replay, knobs, head/loss compatibility, evaluation) and
``runtime`` (wandb, device, run directory), on the :class:`~rlkit.validation.checker.Checker`.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from rlkit.config_keys import COMPONENT_PATHS
from rlkit.validation.checker import Checker, ConfigError, ConfigProblem
from rlkit.validation.components import (
    OPTIONAL_COMPONENTS,
    RUNTIME_KEYS,
    check_components,
    check_imports,
    check_unknown_keys,
)
from rlkit.validation.envs import check_augmentation, check_env, check_tuning
from rlkit.validation.learning import check_eval, check_knob_nodes, check_learning
from rlkit.validation.runtime import check_device, check_run_dir, check_wandb


def check_config(cfg: DictConfig, run_dir: Path | None = None) -> None:
    """Raise :class:`ConfigError` listing every problem :func:`validate_config` finds (none: return)."""
    problems = validate_config(cfg, run_dir)
    if problems:
        raise ConfigError(problems)


def validate_config(cfg: DictConfig, run_dir: Path | None = None) -> list[ConfigProblem]:
    """Every problem of a composed rlkit config (resolved or not), grouped by part; empty when valid."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)

    c = Checker(cfg)
    check_imports(c)
    check_unknown_keys(c)
    check_components(c)
    check_env(c)
    check_tuning(c)
    check_learning(c)
    check_knob_nodes(c)
    check_augmentation(c)
    check_eval(c)
    check_wandb(c)
    check_device(c)
    if run_dir is not None:
        check_run_dir(c, Path(run_dir))
    return c.problems


__all__ = ["COMPONENT_PATHS", "OPTIONAL_COMPONENTS", "RUNTIME_KEYS", "ConfigError", "ConfigProblem", "check_config",
           "validate_config"]
